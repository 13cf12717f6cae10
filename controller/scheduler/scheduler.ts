// The placement function: for each VM in order, filter the hosts, rank the survivors and take the best,
// then charge the VM to that host so that the rest of the batch sees the new free capacity. Pure and
// deterministic: the same hosts and VMs always give the same placements as the linear scan of
// linear-scan.ts (the tests check it), from an index instead of a scan.
//
// Ranking: packing fills the fullest host first (OpenNebula's default), striping spreads to the emptiest,
// load-aware prefers the lowest live CPU load; a host that already caches the VM's image gets a bonus.
// Ties go to the smallest host id.
//
// The static filters (state, cluster, architecture, features) define classes of VMs. For a class, a VM
// size (vCPUs, memory, disk), an anti-affinity group (or none) and an image (or none), a HostIndex
// (host-index.ts) scores the candidate hosts that have room for that size and do not run the group yet,
// and (for the image) that cache the image, so that the image bonus is a constant on that index; the
// best host is the better of the answers with and without the image. When a VM is charged to a host,
// the host's entry is updated in every index it is in (it may leave those it no longer fits).
// Exclusions (hosts a VM already failed on) are checked on the hosts the search reaches. The full filter chain (filters.ts) runs only to explain why a VM cannot be placed,
// once per shape of VM between two placements.

import { explain, reject } from './filters.ts';
import { classKey, type HostSlot, hostSlots, staticOk } from './host-slots.ts';
import { HostIndex } from './host-index.ts';
import { DEFAULT_POLICY, type HostView, type Placement, type SchedulerPolicy, type VmRequest } from './types.ts';

interface Slot extends HostSlot {
  /** Every index this host is in, with its position there. */
  memberships: { index: Indexed; pos: number }[];
}

/** An index, the slots at its positions, and what a host needs to be in it. */
interface Indexed {
  index: HostIndex;
  slots: Slot[];
  vcpus: number;
  memoryMiB: number;
  diskBytes: number;
  /** The anti-affinity group its hosts must not run. */
  group: string | undefined;
}

export function schedule(
  vms: readonly VmRequest[],
  hosts: readonly HostView[],
  policy: SchedulerPolicy = DEFAULT_POLICY,
): Placement[] {
  const slots: Slot[] = hostSlots(hosts, policy).map((s) => ({ ...s, memberships: [] }));
  const rank = policy.rank;
  const bonus = policy.imageCacheBonus;
  const scoreOf = (s: Slot): number => {
    if (rank === 'load-aware') return s.loadScore;
    const use = s.memCap > 0 ? s.usedMemoryMiB / s.memCap : 1;
    return rank === 'packing' ? use : 1 - use;
  };
  /** The host's score in an index: -Infinity when it cannot take the index's VMs. */
  const valueIn = (ix: Indexed, s: Slot, score = scoreOf(s)): number =>
    s.cpuCap - s.usedVcpus < ix.vcpus ||
    s.memCap - s.usedMemoryMiB < ix.memoryMiB ||
    s.diskCap - s.usedDiskBytes < ix.diskBytes ||
    (ix.group !== undefined && s.groups.has(ix.group))
      ? Number.NEGATIVE_INFINITY
      : score;
  type Class = { candidates: Slot[]; indexes: Map<string, Indexed> };
  const classes = new Map<string, Class>();
  /** The index of a class's candidates for VMs of this size and group, caching `image` when given. */
  const indexOf = (cls: Class, vm: VmRequest, image: string | undefined): Indexed => {
    const group = vm.antiAffinityGroup;
    const key = `${vm.vcpus}|${vm.memoryMiB}|${vm.diskBytes ?? 0}|${group ?? ''}|${image ?? ''}`;
    let ix = cls.indexes.get(key);
    if (!ix) {
      const slots = image === undefined ? cls.candidates : cls.candidates.filter((s) => s.h.cachedImages.has(image));
      const built: Indexed = {
        index: new HostIndex(slots.length),
        slots,
        vcpus: vm.vcpus,
        memoryMiB: vm.memoryMiB,
        diskBytes: vm.diskBytes ?? 0,
        group,
      };
      slots.forEach((s, pos) => {
        s.memberships.push({ index: built, pos });
        built.index.set(pos, valueIn(built, s));
      });
      cls.indexes.set(key, built);
      ix = built;
    }
    return ix;
  };
  const reasons = new Map<string, string>();
  const out: Placement[] = [];
  for (const vm of vms) {
    const key = classKey(vm);
    let cls = classes.get(key);
    if (!cls) {
      cls = { candidates: slots.filter((s) => staticOk(s.h, vm)), indexes: new Map() };
      classes.set(key, cls);
    }
    const group = vm.antiAffinityGroup;
    const image = vm.imageSha256;
    const excluded = vm.excludeHosts;
    const acceptIn = (ix: Indexed) => (excluded ? (pos: number) => !excluded.has(ix.slots[pos]!.id) : undefined);
    let best: Slot | undefined;
    let bestScore = Number.NEGATIVE_INFINITY;
    const all = indexOf(cls, vm, undefined);
    const hit = all.index.best(acceptIn(all));
    if (hit) {
      best = all.slots[hit.pos];
      bestScore = hit.score;
    }
    if (image !== undefined && bonus !== 0) {
      const cached = indexOf(cls, vm, image);
      const withImage = cached.index.best(acceptIn(cached));
      if (withImage) {
        const s = cached.slots[withImage.pos]!;
        const score = withImage.score + bonus;
        // the host found without the bonus may cache the image too: then this one is at least as good
        if (!best || score > bestScore || (score === bestScore && s.id < best.id)) {
          best = s;
          bestScore = score;
        }
      }
    }
    if (!best) {
      const why = `${key}|${vm.vcpus}|${vm.memoryMiB}|${vm.diskBytes ?? 0}|${group ?? ''}|${excluded ? [...excluded].sort().join(',') : ''}`;
      let reason = reasons.get(why);
      if (reason === undefined) {
        const current = slots.map((s) => ({
          ...s.h,
          usedVcpus: s.usedVcpus,
          usedMemoryMiB: s.usedMemoryMiB,
          usedDiskBytes: s.usedDiskBytes,
          groups: s.groups,
        }));
        reason = explain(
          vm,
          current.map((h) => reject(h, vm, policy)).filter((r) => r !== null),
        );
        reasons.set(why, reason);
      }
      out.push({ vmId: vm.id, hostId: null, reason });
      continue;
    }
    best.usedVcpus += vm.vcpus;
    best.usedMemoryMiB += vm.memoryMiB;
    best.usedDiskBytes += vm.diskBytes ?? 0;
    if (group !== undefined) best.groups.add(group);
    reasons.clear(); // capacity and groups changed: the reasons of unplaced VMs may have too
    const score = scoreOf(best);
    for (const m of best.memberships) m.index.index.set(m.pos, valueIn(m.index, best, score));
    out.push({ vmId: vm.id, hostId: best.id });
  }
  return out;
}
