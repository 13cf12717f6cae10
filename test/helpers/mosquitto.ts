// Runs a real mosquitto for a test: its own directory and free port, the controller's generated ACL
// and password file when given, stop and restart on the same port (broker outages).

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './agent-process.ts';
import { integrationOnly } from './tier.ts';

export interface MosquittoHandle {
  port: number;
  url: string;
  dir: string;
  output: () => string;
  /** The pid of the running mosquitto (undefined when it is not running). */
  pid: () => number | undefined;
  /** SIGTERM (mosquitto saves its sessions and retained messages) unless told otherwise. */
  stop: (signal?: NodeJS.Signals) => Promise<void>;
  start: () => Promise<void>;
  cleanup: () => Promise<void>;
}

async function listening(port: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`mosquitto not listening on ${port}`);
}

/** `authConf`: lines such as the controller's generated stratus.conf (password_file, acl_file). */
export async function startMosquitto(opts: { authConf?: string } = {}): Promise<MosquittoHandle> {
  integrationOnly('startMosquitto');
  const dir = mkdtempSync(join(tmpdir(), 'stratus-mosquitto-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      'user root',
      'persistence true',
      `persistence_location ${dir}/`,
      'autosave_interval 1',
      `listener ${port} 127.0.0.1`,
      opts.authConf ?? 'allow_anonymous true',
      'log_dest stdout',
      'log_type error',
      'log_type warning',
      'log_type notice',
      '',
    ].join('\n'),
  );
  let out = '';
  let proc: ChildProcess | undefined;
  const handle: MosquittoHandle = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dir,
    output: () => out,
    pid: () => (proc && proc.exitCode === null && proc.signalCode === null ? proc.pid : undefined),
    start: async () => {
      proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stdout!.on('data', (b) => (out += b));
      proc.stderr!.on('data', (b) => (out += b));
      await listening(port, 10_000);
    },
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      const p = proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill(signal);
      await exited;
    },
    cleanup: async () => {
      proc?.kill('SIGCONT'); // a frozen mosquitto would never take the SIGTERM
      await handle.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await handle.start();
  return handle;
}
