// The chaos side of the fault-injection suite: SIGKILL (then a start again after a short pause) or
// SIGSTOP (then SIGCONT after a short pause) of one component at a time: an agent, the controller (and
// its embedded MQTT broker), the site's mosquitto when it runs on one (started again on the same port,
// configuration and persistence), the network's dnsmasq (the controller's supervisor starts it again),
// the private tgtd, and — only when asked, since it is shared with other work on the machine — the system
// libvirtd (started again as scripts/setup-host.sh does, `libvirtd -d`). Kinds, victims and pauses come
// from the seed; a fault runs in the background while operations go on, and `settle()` ends them all.
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { waitFor } from '../helpers/wait.ts';
import type { Rng } from './prng.ts';
import type { Site } from './site.ts';

export type Victim = 'agent-a' | 'agent-b' | 'controller' | 'mosquitto' | 'dnsmasq' | 'tgtd' | 'libvirtd';

export interface FaultRecord {
  victim: Victim;
  kind: 'kill' | 'freeze';
  pauseMs: number;
}

const ownNet = readlinkSync('/proc/self/ns/net');

function libvirtdPids(): number[] {
  try {
    return execFileSync('pgrep', ['-x', 'libvirtd'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((p) => {
        try {
          return readlinkSync(`/proc/${p}/ns/net`) === ownNet; // never a lab's libvirtd
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
}

async function libvirtdUp(): Promise<void> {
  if (libvirtdPids().length === 0) execFileSync('/usr/sbin/libvirtd', ['-d']);
  await waitFor(
    'libvirtd to answer',
    () => {
      execFileSync('virsh', ['-c', 'qemu:///system', 'version'], { stdio: 'ignore' });
      return true;
    },
    30_000,
    200,
  );
}

/** A signal to a process that may have gone meanwhile (then nothing happens). */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Chaos {
  readonly done: FaultRecord[] = [];
  readonly log: string[] = [];
  private busy = new Map<Victim, Promise<void>>();

  constructor(
    private readonly site: Site,
    private readonly rng: Rng,
    private readonly victims: readonly Victim[],
  ) {}

  private pids(v: Victim): number[] {
    const s = this.site;
    const alive = (p: number | undefined) => (p ? [p] : []);
    switch (v) {
      case 'agent-a':
        return alive(s.agents[0]!.handle.proc.pid);
      case 'agent-b':
        return alive(s.agents[1]!.handle.proc.pid);
      case 'controller':
        return alive(s.c.proc.pid);
      case 'mosquitto':
        return alive(s.broker?.pid());
      case 'dnsmasq':
        return alive(s.dnsmasqPid());
      case 'tgtd':
        return alive(s.tgtd.pid());
      case 'libvirtd':
        return libvirtdPids();
    }
  }

  private async restart(v: Victim): Promise<void> {
    const s = this.site;
    switch (v) {
      case 'agent-a':
        return s.restartAgent(s.agents[0]!);
      case 'agent-b':
        return s.restartAgent(s.agents[1]!);
      case 'controller':
        return s.restartController();
      case 'mosquitto':
        return s.broker?.start();
      case 'dnsmasq':
        return; // the controller's supervisor starts it again
      case 'tgtd':
        return s.tgtd.start();
      case 'libvirtd':
        return libvirtdUp();
    }
  }

  /** Starts one fault (drawn from the seed) in the background. */
  inject(): FaultRecord {
    // drawn from every victim (a busy one takes its fault after the one in flight), so the seed alone
    // decides the sequence of faults
    const victim = this.rng.pick(this.victims);
    const kind = this.rng.chance(0.6) ? 'kill' : 'freeze';
    const pauseMs = this.rng.int(300, kind === 'kill' ? 4000 : 3000);
    const rec = { victim, kind, pauseMs } as FaultRecord;
    const before = this.busy.get(victim) ?? Promise.resolve();
    const p = before
      .then(() => this.run(rec))
      .catch((err) => {
        // settle() starts whatever is still down
        this.log.push(`fault ${victim} ${kind} did not end cleanly: ${(err as Error).message}`);
      })
      .finally(() => {
        if (this.busy.get(victim) === p) this.busy.delete(victim);
      });
    this.busy.set(victim, p);
    this.done.push(rec);
    return rec;
  }

  private async run(f: FaultRecord): Promise<void> {
    const pids = this.pids(f.victim);
    if (f.kind === 'freeze') {
      for (const p of pids) signal(p, 'SIGSTOP');
      await sleep(f.pauseMs);
      for (const p of pids) signal(p, 'SIGCONT');
      return;
    }
    for (const p of pids) signal(p, 'SIGKILL');
    if (f.victim === 'tgtd') await this.site.tgtd.kill(); // reaps it, so start() may run
    if (f.victim === 'mosquitto') await this.site.broker?.reap();
    await sleep(f.pauseMs);
    try {
      await this.restart(f.victim);
    } catch (err) {
      this.log.push(`restart of ${f.victim} failed once: ${(err as Error).message}; trying again`);
      await sleep(1000);
      await this.restart(f.victim);
    }
  }

  /** Waits for every fault in flight to end, then checks every component is up (started if not). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.busy.values()]);
    const s = this.site;
    // the broker first: a controller is ready only once connected to it
    if (s.broker && !s.broker.pid()) await s.broker.start();
    for (const a of s.agents) {
      if (a.handle.proc.exitCode !== null || a.handle.proc.signalCode !== null) await s.restartAgent(a);
    }
    if (s.c.proc.exitCode !== null || s.c.proc.signalCode !== null) await s.restartController();
    if (!s.tgtd.pid()) await s.tgtd.start();
    if (this.victims.includes('libvirtd')) await libvirtdUp();
  }
}
