// One fault-injection run: a site, a few volumes, the seeded stream of operations with faults injected
// at seeded points between them, then quiescence (every component up, no VM or volume in a transitional
// state, or a bounded wait) and the invariant checker, tried again for a bounded time while the site's
// reconcilers converge. Used by test/faults/faults.test.ts (CI) and bench/faults.ts.
import { call } from './api.ts';
import type { BrokerKind } from './broker.ts';
import { Chaos, type Victim } from './chaos.ts';
import { gatherWorld } from './gather.ts';
import { checkInvariants, type Violation } from './invariants.ts';
import { newModel, runOp } from './operations.ts';
import { seededRng } from './prng.ts';
import { startSite } from './site.ts';

export interface FaultRunOptions {
  seed: number;
  ops: number;
  faults: number;
  /** The controller's embedded broker (default; killed with the controller) or a mosquitto of the site's own. */
  broker?: BrokerKind;
  /** Default: defaultVictims(broker). */
  victims?: Victim[];
  /** VMs alive at once at most (TCG guests on 2 cores). */
  maxVms?: number;
  volumes?: number;
  /** Pause between two operations, drawn in [min, max] ms (default [100, 600]). */
  pauseMs?: [number, number];
  /** Bound of the wait for no transitional state. */
  quiesceMs?: number;
  /** Bound of the wait for the invariants to hold once quiet. */
  convergeMs?: number;
  log?: (line: string) => void;
}

export interface FaultRunResult {
  seed: number;
  broker: BrokerKind;
  ops: number;
  faults: number;
  violations: Violation[];
  outcomes: Record<string, number>;
  faultsByVictim: Record<string, number>;
  vmsCreated: number;
  quiet: boolean;
  opsMs: number;
  settleMs: number;
}

export const DEFAULT_VICTIMS: Victim[] = ['agent-a', 'agent-b', 'controller', 'dnsmasq', 'tgtd'];

/** The default victims; mosquitto is one when the site runs on it. */
export function defaultVictims(broker: BrokerKind = 'embedded'): Victim[] {
  return broker === 'mosquitto' ? [...DEFAULT_VICTIMS, 'mosquitto'] : [...DEFAULT_VICTIMS];
}
const TRANSITIONAL_VM = new Set(['scheduled', 'deploying', 'unknown']);
const TRANSITIONAL_VOLUME = new Set(['creating', 'attaching', 'detaching', 'deleting']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForApi(base: string, boundMs: number): Promise<void> {
  const end = Date.now() + boundMs;
  while (Date.now() < end && (await call(base, 'GET', '/v1/health', undefined, 2000)).status !== 200) await sleep(250);
}

/** Op indices (0-based) before which a fault is injected: `faults` draws, sorted. */
export function faultSchedule(seed: number, ops: number, faults: number): number[] {
  const rng = seededRng(seed ^ 0x5bd1e995);
  return Array.from({ length: faults }, () => rng.int(1, Math.max(1, ops - 2))).sort((a, b) => a - b);
}

export async function runFaults(o: FaultRunOptions): Promise<FaultRunResult> {
  const log = o.log ?? (() => undefined);
  const broker = o.broker ?? 'embedded';
  const site = await startSite({ broker });
  try {
    const volumes: string[] = [];
    for (let i = 0; i < (o.volumes ?? 3); i++) {
      const v = await call(site.c.url, 'POST', '/v1/volumes', { name: `fv${i}`, sizeGiB: 1 });
      if (v.status !== 201) throw new Error(`volume: ${v.status} ${JSON.stringify(v.body)}`);
      volumes.push(v.body.id);
    }
    const model = newModel(volumes);
    const opsRng = seededRng(o.seed);
    const chaos = new Chaos(site, seededRng(o.seed ^ 0x2545f491), o.victims ?? defaultVictims(broker));
    const schedule = faultSchedule(o.seed, o.ops, o.faults);
    const t0 = Date.now();
    for (let i = 0; i < o.ops; i++) {
      while (schedule[0] === i) {
        schedule.shift();
        const f = chaos.inject();
        log(`fault ${chaos.done.length}: ${f.kind} ${f.victim} (${f.pauseMs} ms)`);
      }
      const t = Date.now();
      const line = await runOp(() => site.c.url, opsRng, model, i + 1, { maxVms: o.maxVms ?? 5 });
      log(`op ${i + 1}: ${line} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
      // a client that got no answer waits a little for the API (bounded) before its next request
      if (line.includes('→ 0 ')) await waitForApi(site.c.url, 10_000);
      await sleep(opsRng.int(o.pauseMs?.[0] ?? 100, o.pauseMs?.[1] ?? 600));
    }
    const opsMs = Date.now() - t0;

    // quiescence: every component up, then no transitional state (bounded)
    const t1 = Date.now();
    await chaos.settle();
    for (const l of chaos.log) log(l);
    let quiet = false;
    let why = '';
    const quietEnd = Date.now() + (o.quiesceMs ?? 120_000);
    while (Date.now() < quietEnd) {
      const hosts = await Promise.all(site.agents.map((a) => call(site.c.url, 'GET', `/v1/hosts/${a.hostId}`)));
      const vms = await call(site.c.url, 'GET', '/v1/vms');
      const vols = await call(site.c.url, 'GET', '/v1/volumes');
      if (
        hosts.every((h) => h.body?.up === true) &&
        vms.status === 200 &&
        vols.status === 200 &&
        !(vms.body.items as { state: string }[]).some((v) => TRANSITIONAL_VM.has(v.state)) &&
        !(vols.body.items as { state: string }[]).some((v) => TRANSITIONAL_VOLUME.has(v.state))
      ) {
        quiet = true;
        break;
      }
      why = [
        ...hosts.filter((h) => h.body?.up !== true).map((h) => `host ${h.body?.id ?? '?'} down`),
        ...((vms.body?.items ?? []) as { id: string; state: string; reason: string }[])
          .filter((v) => TRANSITIONAL_VM.has(v.state))
          .map((v) => `VM ${v.id} ${v.state} (${v.reason})`),
        ...((vols.body?.items ?? []) as { id: string; state: string }[])
          .filter((v) => TRANSITIONAL_VOLUME.has(v.state))
          .map((v) => `volume ${v.id} ${v.state}`),
      ].join('; ');
      await sleep(1000);
    }
    log(quiet ? 'quiet' : `not quiet within the bound (${why}); checking anyway`);

    // the invariants, until they hold or the bound passes (reconcilers converge on their periods)
    const known = model.vms.map((v) => v.id);
    let violations = checkInvariants(await gatherWorld(site, known));
    const convergeEnd = Date.now() + (o.convergeMs ?? 60_000);
    while (violations.length > 0 && Date.now() < convergeEnd) {
      await sleep(3000);
      violations = checkInvariants(await gatherWorld(site, known));
    }
    const faultsByVictim: Record<string, number> = {};
    for (const f of chaos.done)
      faultsByVictim[`${f.kind}:${f.victim}`] = (faultsByVictim[`${f.kind}:${f.victim}`] ?? 0) + 1;
    return {
      seed: o.seed,
      broker,
      ops: o.ops,
      faults: chaos.done.length,
      violations,
      outcomes: model.outcomes,
      faultsByVictim,
      vmsCreated: model.vms.length,
      quiet,
      opsMs,
      settleMs: Date.now() - t1,
    };
  } finally {
    await site.cleanup();
  }
}
