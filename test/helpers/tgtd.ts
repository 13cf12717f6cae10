// A private tgtd for a test: its own management port (socket /var/run/tgtd/socket.<port>) and its own
// iSCSI portal on 127.0.0.1, so tests never touch the host's tgtd or each other's targets. It can be
// killed (SIGKILL: tgtd forgets every target) and started again on the same ports.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { Tgtadm } from '../../drivers/tgtadm.ts';
import { freePort } from './agent-process.ts';
import { integrationOnly } from './tier.ts';

export interface TgtdHandle {
  controlPort: number;
  iscsiPort: number;
  portal: string;
  tgt: Tgtadm;
  pid: () => number | undefined;
  output: () => string;
  /** SIGKILL: targets, LUNs, accounts and ACLs are gone. */
  kill: () => Promise<void>;
  /** Starts tgtd again on the same ports (empty). */
  start: () => Promise<void>;
  stop: () => Promise<void>;
}

function freeControlPort(): number {
  for (;;) {
    const p = 2000 + Math.floor(Math.random() * 30_000); // tgtd takes 1-32767
    if (!existsSync(`/var/run/tgtd/socket.${p}`)) return p;
  }
}

/**
 * `netns`/`address`: the portal listens on `address` inside that network namespace (the two-host lab:
 * QEMU of both lab hosts reaches it); the management socket stays where tgtadm finds it.
 */
export async function startTgtd(opts: { netns?: string; address?: string } = {}): Promise<TgtdHandle> {
  integrationOnly('startTgtd');
  const address = opts.address ?? '127.0.0.1';
  const controlPort = freeControlPort();
  const iscsiPort = await freePort();
  const tgt = new Tgtadm({ controlPort });
  let proc: ChildProcess | undefined;
  let out = '';
  const start = async () => {
    out = '';
    const argv = ['tgtd', '-f', '-C', String(controlPort), '--iscsi', `portal=${address}:${iscsiPort}`];
    const [cmd, ...args] = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...argv] : argv;
    proc = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (b) => (out += b));
    proc.stderr!.on('data', (b) => (out += b));
    const p = proc;
    const end = Date.now() + 10_000;
    while (!(await tgt.ping())) {
      if (p.exitCode !== null) throw new Error(`tgtd exited (${p.exitCode}): ${out}`);
      if (Date.now() > end) throw new Error(`tgtd does not answer: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const exited = (p: ChildProcess) =>
    p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r));
  const kill = async () => {
    const p = proc;
    if (!p) return;
    p.kill('SIGKILL');
    await exited(p);
    proc = undefined;
  };
  const stop = async () => {
    const p = proc;
    if (p) {
      try {
        execFileSync('tgtadm', ['-C', String(controlPort), '--op', 'delete', '--mode', 'system'], { stdio: 'ignore' });
        await Promise.race([exited(p), new Promise((r) => setTimeout(r, 3000))]);
      } catch {
        // killed below
      }
      await kill();
    }
    rmSync(`/var/run/tgtd/socket.${controlPort}`, { force: true });
    rmSync(`/var/run/tgtd/socket.${controlPort}.lock`, { force: true });
  };
  await start();
  return {
    controlPort,
    iscsiPort,
    portal: `${address}:${iscsiPort}`,
    tgt,
    pid: () => proc?.pid,
    output: () => out,
    kill,
    start,
    stop,
  };
}

/** A unique IQN prefix for one test run, so parallel runs never see each other's targets. */
export function testIqnPrefix(): string {
  return `iqn.2024-01.org.stratus-test.t${Math.random().toString(36).slice(2, 10)}`;
}

/** `iscsi-ls` (libiscsi) from the given initiator name: the target names it may discover. */
export function iscsiLs(portal: string, initiator: string): string[] {
  const text = execFileSync('iscsi-ls', ['-i', initiator, `iscsi://${portal}/`], { encoding: 'utf8' });
  return [...text.matchAll(/^Target:(\S+)/gm)].map((m) => m[1]!);
}
