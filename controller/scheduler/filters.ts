// Host filters, as Nova's and OpenNebula's: each says why a host cannot take a VM, or null if it can.
// The reasons are what `stratus vm show` reports for a VM that stays pending. The disk filter counts
// the virtual sizes of a VM's writable disks against what its host has free for VM disks.

import type { HostView, SchedulerPolicy, VmRequest } from './types.ts';

export type FilterName =
  | 'state'
  | 'excluded'
  | 'cluster'
  | 'arch'
  | 'features'
  | 'anti-affinity'
  | 'cpu'
  | 'memory'
  | 'disk';

export interface Rejection {
  filter: FilterName;
  detail: string;
  /** disk: the bytes free on the host for VM disks. */
  freeBytes?: number;
}

const GiB = 1024 ** 3;

/**
 * Bytes as GiB for reasons: whole numbers as they are, others with one decimal, rounded up for what a
 * VM needs and down for what a host has (so that a reason never shows a need that seems to fit).
 */
export function gib(bytes: number, round: 'up' | 'down' = 'down'): string {
  const g = bytes / GiB;
  if (Number.isInteger(g)) return String(g);
  return ((round === 'up' ? Math.ceil(g * 10) : Math.floor(g * 10)) / 10).toFixed(1);
}

/** Bytes free for VM disks on the host; Infinity when the host does not report its disk. */
export function freeDiskBytes(h: HostView): number {
  return h.diskBytes === undefined ? Number.POSITIVE_INFINITY : h.diskBytes - (h.usedDiskBytes ?? 0);
}

export function freeVcpus(h: HostView, p: SchedulerPolicy): number {
  return Math.floor(h.cpus * p.cpuOvercommit) - h.usedVcpus;
}

export function freeMemoryMiB(h: HostView, p: SchedulerPolicy): number {
  return Math.floor(h.memoryMiB * p.memoryOvercommit) - h.usedMemoryMiB;
}

/** The first filter that rejects `h` for `vm`, or null when the host fits. Cheapest checks first. */
export function reject(h: HostView, vm: VmRequest, p: SchedulerPolicy): Rejection | null {
  if (!h.up) return { filter: 'state', detail: 'host is down' };
  if (!h.enabled) return { filter: 'state', detail: 'host is disabled' };
  if (vm.excludeHosts?.has(h.id)) return { filter: 'excluded', detail: 'a deploy already failed there' };
  if (vm.cluster && h.cluster !== vm.cluster) return { filter: 'cluster', detail: `not in cluster ${vm.cluster}` };
  if (vm.arch && h.arch !== vm.arch) return { filter: 'arch', detail: `architecture ${h.arch}, not ${vm.arch}` };
  if (vm.requiredFeatures) {
    for (const f of vm.requiredFeatures) {
      if (!h.features.includes(f)) return { filter: 'features', detail: `lacks feature ${f}` };
    }
  }
  if (vm.antiAffinityGroup && h.groups.has(vm.antiAffinityGroup)) {
    return { filter: 'anti-affinity', detail: `already runs a VM of group ${vm.antiAffinityGroup}` };
  }
  if (freeVcpus(h, p) < vm.vcpus) return { filter: 'cpu', detail: `${Math.max(0, freeVcpus(h, p))} vCPUs free` };
  if (freeMemoryMiB(h, p) < vm.memoryMiB) {
    return { filter: 'memory', detail: `${Math.max(0, freeMemoryMiB(h, p))} MiB free` };
  }
  const free = freeDiskBytes(h);
  if (vm.diskBytes !== undefined && free < vm.diskBytes) {
    const freeBytes = Math.max(0, free);
    return {
      filter: 'disk',
      detail: `disk: needs ${gib(vm.diskBytes, 'up')} GiB, host has ${gib(freeBytes)} GiB free`,
      freeBytes,
    };
  }
  return null;
}

/** One sentence that says why no host fits, counting the hosts each filter turned away. */
export function explain(vm: VmRequest, rejections: Rejection[]): string {
  if (rejections.length === 0) return 'no hosts are registered';
  const counts = new Map<FilterName, number>();
  for (const r of rejections) counts.set(r.filter, (counts.get(r.filter) ?? 0) + 1);
  const label: Record<FilterName, string> = {
    state: 'down or disabled',
    excluded: 'already failed this VM',
    cluster: `outside cluster ${vm.cluster}`,
    arch: `not ${vm.arch}`,
    features: `missing ${vm.requiredFeatures?.join(', ')}`,
    'anti-affinity': `already running group ${vm.antiAffinityGroup}`,
    cpu: `short of ${vm.vcpus} free vCPUs`,
    memory: `short of ${vm.memoryMiB} MiB free memory`,
    disk: '',
  };
  const disk = rejections.filter((r) => r.filter === 'disk');
  if (disk.length > 0) {
    const most = Math.max(...disk.map((r) => r.freeBytes ?? 0));
    label.disk = `short of disk: needs ${gib(vm.diskBytes ?? 0, 'up')} GiB, ${disk.length === 1 ? 'host has' : 'the roomiest has'} ${gib(most)} GiB free`;
  }
  const parts = [...counts.entries()].map(([f, n]) => `${n} ${n === 1 ? 'host' : 'hosts'} ${label[f]}`);
  return `no host fits: ${parts.join('; ')}`;
}
