// The reference placement function, by a linear scan of the hosts for every VM: for each VM in order,
// filter the hosts, rank the survivors and take the best, then charge the VM to that host so that the
// rest of the batch sees the new free capacity. scheduler.ts gives the same placements from an index;
// this one is its oracle in the tests and its baseline in bench/scheduler.
//
// Ranking: packing fills the fullest host first (OpenNebula's default), striping spreads to the emptiest,
// load-aware prefers the lowest live CPU load; a host that already caches the VM's image gets a bonus.
// Ties go to the smallest host id.
//
// Fast path: the static filters (state, cluster, architecture, features) are evaluated once per class
// of VM that shares them; per VM only capacity, anti-affinity and exclusions are checked, inline. The
// full filter chain (filters.ts) runs only to explain why a VM cannot be placed.

import { explain, reject } from './filters.ts';
import { classKey, type HostSlot, hostSlots, staticOk } from './host-slots.ts';
import { DEFAULT_POLICY, type HostView, type Placement, type SchedulerPolicy, type VmRequest } from './types.ts';

type Slot = HostSlot;

export function scheduleLinear(
  vms: readonly VmRequest[],
  hosts: readonly HostView[],
  policy: SchedulerPolicy = DEFAULT_POLICY,
): Placement[] {
  const slots: Slot[] = hostSlots(hosts, policy);
  const classes = new Map<string, Slot[]>();
  const out: Placement[] = [];
  const rank = policy.rank;
  const bonus = policy.imageCacheBonus;
  for (const vm of vms) {
    const key = classKey(vm);
    let candidates = classes.get(key);
    if (!candidates) {
      candidates = slots.filter((s) => staticOk(s.h, vm));
      classes.set(key, candidates);
    }
    const group = vm.antiAffinityGroup;
    const image = vm.imageSha256;
    const excluded = vm.excludeHosts;
    let best: Slot | undefined;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const s of candidates) {
      if (s.cpuCap - s.usedVcpus < vm.vcpus || s.memCap - s.usedMemoryMiB < vm.memoryMiB) continue;
      if (s.diskCap - s.usedDiskBytes < (vm.diskBytes ?? 0)) continue;
      if (group !== undefined && s.groups.has(group)) continue;
      if (excluded?.has(s.id)) continue;
      let score: number;
      if (rank === 'load-aware') score = s.loadScore;
      else {
        const use = s.memCap > 0 ? s.usedMemoryMiB / s.memCap : 1;
        score = rank === 'packing' ? use : 1 - use;
      }
      if (image !== undefined && s.h.cachedImages.has(image)) score += bonus;
      // candidates are in id order, so a strict > keeps the smallest id on ties
      if (score > bestScore) {
        bestScore = score;
        best = s;
      }
    }
    if (!best) {
      const current = slots.map((s) => ({
        ...s.h,
        usedVcpus: s.usedVcpus,
        usedMemoryMiB: s.usedMemoryMiB,
        usedDiskBytes: s.usedDiskBytes,
        groups: s.groups,
      }));
      const rejections = current.map((h) => reject(h, vm, policy)).filter((r) => r !== null);
      out.push({ vmId: vm.id, hostId: null, reason: explain(vm, rejections) });
      continue;
    }
    best.usedVcpus += vm.vcpus;
    best.usedMemoryMiB += vm.memoryMiB;
    best.usedDiskBytes += vm.diskBytes ?? 0;
    if (group !== undefined) best.groups.add(group);
    out.push({ vmId: vm.id, hostId: best.id });
  }
  return out;
}
