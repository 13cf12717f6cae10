// The continuous scheduler: no fixed cycle. Anything that can change a placement (a VM created or
// freed, a host up, down, enabled, a deploy that failed) kicks one pass, coalesced with other kicks
// in the same tick. A pass places every pending VM it can in one batch and records, for the others,
// why they wait. VMs placed and not yet gone (scheduled, deploying, running, stopped, unknown) count
// against their host's CPUs, memory and disk.

import type { Logger } from 'pino';
import { DEFAULT_HOST_ADMIN, type HostAdminStore } from '../vms/host-admin.ts';
import type { Fleet, FleetHost } from '../fleet/fleet-view.ts';
import { HOLDS_CAPACITY } from '../vms/states.ts';
import type { VmRecord, VmStore } from '../vms/store.ts';
import { schedule } from './scheduler.ts';
import type { HostView, SchedulerPolicy, VmRequest } from './types.ts';

export interface SchedulerServiceOptions {
  store: VmStore;
  fleet: Fleet;
  hostAdmin: HostAdminStore;
  policy: () => SchedulerPolicy;
  log: Logger;
  /** Starts deploying a VM that was just placed. */
  deploy: (vmId: string) => void;
  /** sha256 of an image, for the bonus of hosts that already cache it. */
  imageSha256?: (imageId: string) => string | undefined;
  /** Bytes a VM's writable disks take on its host (controller/vms/vm-disks.ts); absent: disks not counted. */
  diskBytes?: (vm: VmRecord) => number;
  /** Clock for the cool-down between costly passes (ms); tests give their own. */
  now?: () => number;
}

/** A pass that took this long (ms) is followed by a cool-down as long as it took. */
const COSTLY_MS = 10;

export class SchedulerService {
  private queued = false;
  private passes = 0;
  /** No pass before this time (ms, `now`): the cool-down after a costly pass. */
  private notBefore = 0;
  private readonly now: () => number;

  constructor(private readonly o: SchedulerServiceOptions) {
    this.now = o.now ?? (() => performance.now());
  }

  get passCount(): number {
    return this.passes;
  }

  /**
   * A pass runs at the next turn of the event loop, but no sooner after a costly pass (≥ COSTLY_MS)
   * than that pass took: kicks meanwhile are batched into the next one. Without this, 50 clients
   * creating VMs one request per turn each paid a whole pass over 10,000 hosts (bench api-load).
   */
  kick(): void {
    if (this.queued) return;
    this.queued = true;
    const run = () => {
      this.queued = false;
      const t0 = this.now();
      try {
        this.pass();
      } catch (err) {
        this.o.log.error({ err }, 'scheduling pass failed');
      }
      const took = this.now() - t0;
      this.notBefore = took >= COSTLY_MS ? this.now() + took : 0;
    };
    const wait = this.notBefore - this.now();
    if (wait > 0) setTimeout(run, wait);
    else setImmediate(run);
  }

  /** Bytes the VM's writable disks take on a host; undefined when disks are not counted. */
  diskBytesOf(vm: VmRecord): number | undefined {
    return this.o.diskBytes?.(vm);
  }

  /** Every host as the scheduler sees it: capacity, what placed VMs commit of it, admin state. */
  hostViews(): HostView[] {
    return this.viewsOf(this.o.fleet.hosts(), this.o.store.list({ states: [...HOLDS_CAPACITY] }));
  }

  /**
   * The views a pass needs: in full for the hosts that are up; a host that is down only has to be
   * counted ("N hosts down or disabled"), so it gets a bare view. At 10,000 known hosts with a few
   * up, building all 10,000 in full was most of every pass (bench api-load).
   */
  private passViews(): HostView[] {
    const split = this.o.fleet.hostsByState?.();
    if (!split) return this.hostViews();
    const placed = this.o.store.list({ states: [...HOLDS_CAPACITY] });
    const down = split.down.map(
      (id): HostView => ({
        id,
        up: false,
        enabled: true,
        cluster: '',
        arch: '',
        features: [],
        cpus: 0,
        memoryMiB: 0,
        usedVcpus: 0,
        usedMemoryMiB: 0,
        usedDiskBytes: 0,
        load: 0,
        cachedImages: new Set(),
        groups: new Set(),
      }),
    );
    return [...this.viewsOf(split.up, placed), ...down];
  }

  /** One host's view (undefined: unknown host), reading only that host and its VMs. */
  hostView(id: string): HostView | undefined {
    const h = this.o.fleet.host(id);
    return h && this.viewsOf([h], this.o.store.list({ hostId: id, states: [...HOLDS_CAPACITY] }))[0];
  }

  private viewsOf(hosts: FleetHost[], placed: VmRecord[]): HostView[] {
    const committed = new Map<string, { vcpus: number; mem: number; disk: number; groups: Set<string> }>();
    for (const vm of placed) {
      if (!vm.hostId) continue;
      const c = committed.get(vm.hostId) ?? { vcpus: 0, mem: 0, disk: 0, groups: new Set<string>() };
      c.vcpus += vm.vcpus;
      c.mem += vm.memoryMiB;
      c.disk += this.o.diskBytes?.(vm) ?? 0;
      if (vm.placement.antiAffinityGroup) c.groups.add(vm.placement.antiAffinityGroup);
      committed.set(vm.hostId, c);
    }
    // one query for a fleet's settings (one per host cost ~200 ms at 10,000 hosts)
    const admins = hosts.length === 1 ? undefined : this.o.hostAdmin.all();
    return hosts.map((h) => {
      const admin = admins ? (admins.get(h.id) ?? { ...DEFAULT_HOST_ADMIN }) : this.o.hostAdmin.get(h.id);
      const c = committed.get(h.id);
      return {
        id: h.id,
        up: h.up,
        enabled: admin.enabled,
        cluster: admin.cluster,
        arch: h.arch,
        features: admin.features,
        cpus: h.cpus,
        memoryMiB: h.memoryMiB,
        usedVcpus: c?.vcpus ?? 0,
        usedMemoryMiB: c?.mem ?? 0,
        diskBytes: h.diskBytes,
        usedDiskBytes: c?.disk ?? 0,
        load: h.load,
        cachedImages: new Set(h.cachedImages),
        groups: c?.groups ?? new Set(),
      };
    });
  }

  private pass(): void {
    this.passes++;
    const pending = this.o.store.list({ states: ['pending'] });
    if (pending.length === 0) return;
    const requests: VmRequest[] = pending.map((vm) => ({
      id: vm.id,
      vcpus: vm.vcpus,
      memoryMiB: vm.memoryMiB,
      cluster: vm.placement.cluster,
      requiredFeatures: vm.placement.requiredFeatures,
      antiAffinityGroup: vm.placement.antiAffinityGroup,
      excludeHosts: new Set(vm.excludedHosts),
      imageSha256: this.o.imageSha256?.(vm.imageId),
      diskBytes: this.diskBytesOf(vm),
    }));
    const t0 = performance.now();
    const placements = schedule(requests, this.passViews(), this.o.policy());
    let placed = 0;
    for (const p of placements) {
      if (p.hostId === null) {
        this.o.store.setReason(p.vmId, p.reason);
        continue;
      }
      this.o.store.transition(p.vmId, 'scheduled', `placed on ${p.hostId}`, { hostId: p.hostId });
      this.o.deploy(p.vmId);
      placed++;
    }
    this.o.log.debug({ pending: pending.length, placed, ms: Math.round(performance.now() - t0) }, 'scheduling pass');
  }
}
