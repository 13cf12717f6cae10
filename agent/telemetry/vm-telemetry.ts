// VM metrics of one host in one batch, from libvirt's bulk domain statistics
// (virConnectGetAllDomainStats): CPU time and its rate since the previous batch, memory, and the
// per-device block and interface counters that libvirt exporters publish.

import type { VmSample } from '../../protocol/mqtt/index.ts';
import { type DomainStatsRecord, domainStateName } from '../../drivers/libvirt/index.ts';

const num = (p: DomainStatsRecord['params'], k: string): number => {
  const v = p[k];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
};
const str = (p: DomainStatsRecord['params'], k: string): string => {
  const v = p[k];
  return typeof v === 'string' ? v : '';
};

/** Turns one stats record into a sample; `prev` (the same VM's previous sample) gives the CPU rate. */
export function vmSample(rec: DomainStatsRecord, at: number, prev?: { at: number; cpuTimeNs: number }): VmSample {
  const p = rec.params;
  const cpuTimeNs = num(p, 'cpu.time');
  const dtNs = prev ? (at - prev.at) * 1e6 : 0;
  const cpuPct =
    dtNs > 0 && cpuTimeNs >= prev!.cpuTimeNs ? Math.round(((cpuTimeNs - prev!.cpuTimeNs) / dtNs) * 10_000) / 100 : 0;
  const memMaxKiB = num(p, 'balloon.maximum');
  const memCurKiB = num(p, 'balloon.current') || memMaxKiB;
  const block: VmSample['block'] = [];
  for (let i = 0; i < num(p, 'block.count'); i++) {
    const b = `block.${i}.`;
    block.push({
      dev: str(p, `${b}name`),
      rdBytes: num(p, `${b}rd.bytes`),
      wrBytes: num(p, `${b}wr.bytes`),
      rdReqs: num(p, `${b}rd.reqs`),
      wrReqs: num(p, `${b}wr.reqs`),
    });
  }
  const net: VmSample['net'] = [];
  for (let i = 0; i < num(p, 'net.count'); i++) {
    const n = `net.${i}.`;
    net.push({
      dev: str(p, `${n}name`),
      rxBytes: num(p, `${n}rx.bytes`),
      txBytes: num(p, `${n}tx.bytes`),
      rxPkts: num(p, `${n}rx.pkts`),
      txPkts: num(p, `${n}tx.pkts`),
    });
  }
  return {
    vm: rec.uuid,
    name: rec.name,
    state: domainStateName(num(p, 'state.state')),
    cpuTimeNs,
    cpuPct,
    vcpus: num(p, 'vcpu.current'),
    memMaxBytes: memMaxKiB * 1024,
    memUsedBytes: memCurKiB * 1024,
    block: block.slice(0, 64),
    net: net.slice(0, 64),
  };
}

/** Keeps the previous CPU time of each VM between batches. */
export class VmSampler {
  private prev = new Map<string, { at: number; cpuTimeNs: number }>();

  batch(records: DomainStatsRecord[], at = Date.now()): VmSample[] {
    const next = new Map<string, { at: number; cpuTimeNs: number }>();
    const out = records.map((r) => {
      const prev = this.prev.get(r.uuid);
      const s = vmSample(r, at, prev);
      // a domain busy with a job may come without its CPU time (NOWAIT): the last sample stays the base
      if (r.params['cpu.time'] !== undefined) next.set(r.uuid, { at, cpuTimeNs: s.cpuTimeNs });
      else if (prev) next.set(r.uuid, prev);
      return s;
    });
    this.prev = next;
    return out;
  }
}
