// What both placement functions (scheduler.ts and its oracle linear-scan.ts) start from: hosts as
// mutable slots in id order with their over-committed capacity (disk: what VM disks may take), and the static filters that split VMs
// into classes (state, cluster, architecture, features).

import type { HostView, SchedulerPolicy, VmRequest } from './types.ts';

export interface HostSlot {
  h: HostView;
  id: string;
  cpuCap: number;
  memCap: number;
  usedVcpus: number;
  usedMemoryMiB: number;
  /** Infinity when the host does not report its disk. */
  diskCap: number;
  usedDiskBytes: number;
  groups: Set<string>;
  loadScore: number;
}

/** The hosts as slots sorted by id (ties in ranking go to the smallest id). */
export function hostSlots(hosts: readonly HostView[], policy: SchedulerPolicy): HostSlot[] {
  return [...hosts]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((h) => ({
      h,
      id: h.id,
      cpuCap: Math.floor(h.cpus * policy.cpuOvercommit),
      memCap: Math.floor(h.memoryMiB * policy.memoryOvercommit),
      usedVcpus: h.usedVcpus,
      usedMemoryMiB: h.usedMemoryMiB,
      diskCap: h.diskBytes ?? Number.POSITIVE_INFINITY,
      usedDiskBytes: h.usedDiskBytes ?? 0,
      groups: new Set(h.groups),
      loadScore: 1 - Math.min(1, Math.max(0, h.load)),
    }));
}

/** VMs with the same key pass the same static filters. */
export function classKey(vm: VmRequest): string {
  return `${vm.cluster ?? ''}|${vm.arch ?? ''}|${vm.requiredFeatures ? [...vm.requiredFeatures].sort().join(',') : ''}`;
}

/** Whether the host passes the VM's static filters (up, enabled, cluster, architecture, features). */
export function staticOk(h: HostView, vm: VmRequest): boolean {
  if (!h.up || !h.enabled) return false;
  if (vm.cluster && h.cluster !== vm.cluster) return false;
  if (vm.arch && h.arch !== vm.arch) return false;
  if (vm.requiredFeatures) for (const f of vm.requiredFeatures) if (!h.features.includes(f)) return false;
  return true;
}
