// The metrics history's finest resolution: samples of each host and VM are averaged in memory over a
// step ([metrics] history_step_s) and one point per step is written. At 10,000 hosts with 10 VMs each
// and a sample every 10 s, writing every sample was 11,000 rows a second into SQLite (and 40 million
// rows an hour of raw history); a one-minute step writes a sixth of that. The step still open is
// served from memory, so a chart is never a step behind.

import type { MetricPoint } from './store.ts';

interface Open {
  host: string;
  vm: string;
  /** Start of the step (ms). */
  step: number;
  n: number;
  cpuPct: number;
  memBytes: number;
  rxBps: number;
  txBps: number;
}

const average = (o: Open): MetricPoint => ({
  host: o.host,
  vm: o.vm,
  ts: o.step,
  cpuPct: o.cpuPct / o.n,
  memBytes: o.memBytes / o.n,
  rxBps: o.rxBps / o.n,
  txBps: o.txBps / o.n,
});

export class HistorySteps {
  private readonly open = new Map<string, Open>();
  /** Steps closed by a sample of a later step, waiting to be written. */
  private closed: MetricPoint[] = [];
  private readonly stepMs: number;

  constructor(stepS: number) {
    this.stepMs = Math.max(1, stepS) * 1000;
  }

  add(p: MetricPoint): void {
    const step = Math.floor(p.ts / this.stepMs) * this.stepMs;
    const key = `${p.host}\0${p.vm}`;
    const o = this.open.get(key);
    if (o && o.step === step) {
      o.n++;
      o.cpuPct += p.cpuPct;
      o.memBytes += p.memBytes;
      o.rxBps += p.rxBps;
      o.txBps += p.txBps;
      return;
    }
    // a later step closes the open one; so does an earlier one (the agent's clock set back), as a point
    // of its own: the history keeps the first point of a time and step (INSERT ... ON CONFLICT DO NOTHING)
    if (o) this.closed.push(average(o));
    const { host, vm, cpuPct, memBytes, rxBps, txBps } = p;
    this.open.set(key, { host, vm, step, n: 1, cpuPct, memBytes, rxBps, txBps });
  }

  /** The steps closed by later samples since the last call: points to write. */
  take(): MetricPoint[] {
    const out = this.closed;
    this.closed = [];
    return out;
  }

  /**
   * Closes the open steps of series that stopped reporting (a step ended more than a step before
   * `now`: a VM gone, a host down) or, with `all`, every open step (at shutdown); their points.
   */
  sweep(now: number, all = false): MetricPoint[] {
    const out: MetricPoint[] = [];
    const stale = now - 2 * this.stepMs;
    for (const [key, o] of this.open) {
      if (all || o.step < stale) {
        out.push(average(o));
        this.open.delete(key);
      }
    }
    return out;
  }

  /** The step still open for a host ('' for vm) or VM, averaged so far. */
  current(host: string, vm: string): MetricPoint | undefined {
    const o = this.open.get(`${host}\0${vm}`);
    return o && average(o);
  }

  /** Series with a step open. */
  get size(): number {
    return this.open.size;
  }
}
