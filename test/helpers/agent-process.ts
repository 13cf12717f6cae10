// Starts a real stratus-agent process for a test, with its own state directory and API port, and
// offers a small HTTP client for its local API.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { track } from './children.ts';
import { GUEST_DIR } from './guest.ts';
import { type HttpAnswer, httpRequest } from './http-client.ts';
import { integrationOnly } from './tier.ts';

const root = new URL('../..', import.meta.url).pathname;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export interface AgentHandle {
  dir: string;
  url: string;
  proc: ChildProcess;
  output: () => string;
  request: (method: string, path: string, body?: unknown) => Promise<HttpAnswer>;
  waitReady: (timeoutMs?: number) => Promise<void>;
  kill: (signal?: NodeJS.Signals) => Promise<void>;
  restart: () => Promise<AgentHandle>;
  cleanup: () => Promise<void>;
}

export async function startAgent(
  opts: {
    dir?: string;
    port?: number;
    uri?: string;
    resyncS?: number;
    extraToml?: string;
    env?: Record<string, string>;
    /** [agent] allowed_roots; default: the test guest's directory and the temporary directory. */
    allowedRoots?: string[];
  } = {},
): Promise<AgentHandle> {
  integrationOnly('startAgent (libvirt)');
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'stratus-agent-test-'));
  const port = opts.port ?? (await freePort());
  const config = join(dir, 'agent.toml');
  writeFileSync(
    config,
    `[agent]
state_dir = "${dir}/state"
console_log_dir = "${dir}/console"
host_id = "test-host"
resync_interval_s = ${opts.resyncS ?? 2}
allowed_roots = ${JSON.stringify(opts.allowedRoots ?? [GUEST_DIR, tmpdir()])}
[libvirt]
uri = "${opts.uri ?? 'qemu:///system'}"
virt_type = "qemu"
shutdown_timeout_s = 20
[api]
listen = "127.0.0.1:${port}"
[log]
level = "debug"
${opts.extraToml ?? ''}`,
  );
  rmSync(join(dir, 'state', '.keep'), { force: true });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'state'), { recursive: true });
  let out = '';
  const proc = track(
    spawn(process.execPath, [join(root, 'bin/stratus-agent.js'), '--config', config], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  proc.stdout!.on('data', (b) => (out += b));
  proc.stderr!.on('data', (b) => (out += b));
  const url = `http://127.0.0.1:${port}`;
  const request = (method: string, path: string, body?: unknown) => httpRequest(url + path, method, body);
  const handle: AgentHandle = {
    dir,
    url,
    proc,
    output: () => out,
    request,
    waitReady: async (timeoutMs = 30_000) => {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        if (proc.exitCode !== null) throw new Error(`agent exited (${proc.exitCode}):\n${out}`);
        try {
          const r = await request('GET', '/v1/health');
          if (r.status === 200) return;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`agent not ready after ${timeoutMs} ms:\n${out}`);
    },
    kill: async (signal = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await exited;
    },
    restart: async () => {
      await handle.kill('SIGTERM');
      return startAgent({ ...opts, dir, port });
    },
    cleanup: async () => {
      await handle.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}
