// Starts a real stratus-agent process for a test, with its own state directory and API listener (its
// default, a unix socket in the test directory, or a loopback TCP port with the bearer token when `tcp`),
// and offers a small HTTP client for its local API.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { track } from './children.ts';
import { GUEST_DIR } from './guest.ts';
import { type HttpAnswer, httpRequest, httpRequestUnix } from './http-client.ts';
import { integrationOnly } from './tier.ts';

const root = new URL('../..', import.meta.url).pathname;

/**
 * How an agent process is started: from the sources (bin/stratus-agent.js, through tsx), or, when
 * STRATUS_TEST_AGENT_BUNDLE names the esbuild bundle of packaging/bundle.ts (bench/launch), as shipped:
 * that bundle with the launcher's Node options and environment.
 */
function agentProgram(): { args: string[]; env: Record<string, string> } {
  const bundle = process.env['STRATUS_TEST_AGENT_BUNDLE'];
  if (!bundle) return { args: [join(root, 'bin/stratus-agent.js')], env: {} };
  return {
    args: [...(process.env['STRATUS_TEST_AGENT_NODE_FLAGS'] ?? '').split(' ').filter(Boolean), bundle],
    env: JSON.parse(process.env['STRATUS_TEST_AGENT_ENV'] ?? '{}') as Record<string, string>,
  };
}

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
  /** `unix:<path>` of the API socket, or http://127.0.0.1:<port> (tcp). */
  url: string;
  /** The API socket (absent with tcp). */
  socket?: string;
  /** The TCP port (tcp only). */
  port?: number;
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
    /** Host id (default test-host). */
    hostId?: string;
    /** Grace period of unclaimed domains; default one day, so that concurrent tests never lose theirs. */
    orphanGraceS?: number;
    extraToml?: string;
    env?: Record<string, string>;
    /** [agent] allowed_roots; default: the test guest's directory and the temporary directory. */
    allowedRoots?: string[];
    /** Listen on a loopback TCP port (with the token of <state>/api.token) instead of the unix socket. */
    tcp?: boolean;
  } = {},
): Promise<AgentHandle> {
  integrationOnly('startAgent (libvirt)');
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'stratus-agent-test-'));
  const port = opts.tcp || opts.port ? (opts.port ?? (await freePort())) : undefined;
  const socket = join(dir, 'agent.sock');
  const config = join(dir, 'agent.toml');
  writeFileSync(
    config,
    `[agent]
state_dir = "${dir}/state"
console_log_dir = "${dir}/console"
host_id = "${opts.hostId ?? 'test-host'}"
resync_interval_s = ${opts.resyncS ?? 2}
orphan_grace_s = ${opts.orphanGraceS ?? 86400}
allowed_roots = ${JSON.stringify(opts.allowedRoots ?? [GUEST_DIR, tmpdir()])}
[libvirt]
uri = "${opts.uri ?? 'qemu:///system'}"
virt_type = "qemu"
shutdown_timeout_s = 20
[api]
listen = "${port ? `127.0.0.1:${port}` : `unix:${socket}`}"
[log]
level = "debug"
${opts.extraToml ?? ''}`,
  );
  rmSync(join(dir, 'state', '.keep'), { force: true });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'state'), { recursive: true });
  let out = '';
  const proc = track(
    spawn(process.execPath, [...agentProgram().args, '--config', config], {
      env: { ...process.env, ...agentProgram().env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  proc.stdout!.on('data', (b) => (out += b));
  proc.stderr!.on('data', (b) => (out += b));
  const url = port ? `http://127.0.0.1:${port}` : `unix:${socket}`;
  const tokenFile = join(dir, 'state', 'api.token');
  const request = (method: string, path: string, body?: unknown) => {
    if (!port) return httpRequestUnix(socket, path, method, body);
    const token = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : '';
    return httpRequest(url + path, method, body, { authorization: `Bearer ${token}` });
  };
  const handle: AgentHandle = {
    dir,
    url,
    ...(port ? { port } : { socket }),
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
      return startAgent({ ...opts, dir, ...(port ? { port } : {}) });
    },
    cleanup: async () => {
      await deleteAgentVms(handle);
      await handle.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

/**
 * Deletes every VM a running agent has (its domains, overlays, firewall chains), so that a test leaves
 * nothing behind on the shared libvirtd; an agent stopped on purpose leaves its domains running.
 */
export async function deleteAgentVms(agent: AgentHandle): Promise<void> {
  if (agent.proc.exitCode !== null || agent.proc.signalCode !== null) return;
  try {
    await agent.waitReady(20_000);
    const list = await agent.request('GET', '/v1/vms');
    for (const vm of (list.body?.items ?? []) as { id: string }[]) {
      await agent.request('DELETE', `/v1/vms/${vm.id}`).catch(() => undefined);
    }
  } catch {
    // the agent is broken: the leak check at the end of the suite names what stayed
  }
}

/** Runs `stratus-agent --config CONFIG ARGS...` to completion (sub-commands such as join). */
export function agentCli(config: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, 'bin/stratus-agent.js'), '--config', config, ...args],
      { timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
