// Continuous reconciliation of the controller's VMs with what hosts report (kubelet's loop, Nova's power
// sync). Hosts are the truth for what runs; the controller's records are the truth for what is wanted.
//
// - A VM a host reports that the controller has as pending, failed or lost is adopted there (running or
//   stopped on that host), unless it was placed elsewhere meanwhile. A deploy whose outcome is unknown
//   is sent again with the same key, so the agent's answer (not a guess) settles it.
// - A copy nobody wants (deleted VM, second copy) is deleted on its host, and a second copy only once
//   the wanted one is confirmed by its own host. A VM this controller never had a record of (made through
//   an agent's local API by the host's admin) is reported once and left alone, as Nova leaves instances
//   it does not know: only VMs known to be deleted or placed elsewhere are removed.
// - A VM the controller has as running, stopped or unknown that its host reports gone, or that its
//   host's complete inventory lacks, becomes `lost` with the reason: never silently redeployed. What it
//   holds (leases, context ISO, volumes) stays until the user deletes it.
// - Hosts going down turn their VMs `unknown`; a host that comes back (new session) gets the deploys in
//   flight resent with the same key. A periodic pass resends unresolved deploys and re-runs the
//   scheduler, so expired host exclusions take effect.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { StratusError } from '../../common/errors.ts';
import { type Deployer, controllerState } from './deployer.ts';
import type { Fleet, FleetHost, FleetInventory, FleetVmState } from '../fleet/fleet-view.ts';
import type { CommandDispatcher } from '../mqtt/command-dispatcher.ts';
import type { VmRecord, VmStore } from './store.ts';

export interface ReconcilerOptions {
  store: VmStore;
  fleet: Fleet;
  dispatcher: CommandDispatcher;
  deployer: Deployer;
  log: Logger;
  kick: () => void;
  actionTimeoutMs: number;
  intervalMs: number;
  /**
   * VMs being migrated (controller/vms/migrator.ts): while one moves, its source reports it gone and its
   * target reports a copy; neither is acted on until the migration has recorded where the VM is.
   */
  isMoving?: (id: string) => boolean;
}

const ABSENT = new Set(['missing', 'deleted']);
/** Copies the periodic pass settles per turn of the event loop. */
const SETTLE_CHUNK = 2000;

export class Reconciler {
  /** VMs without a record that a host reports, already logged (vm@host). */
  private readonly unknownReported = new Set<string>();
  /** What each host last said about each VM: vm → host → libvirt state (present copies only). */
  private readonly copies = new Map<string, Map<string, string>>();
  /** The same by host: host → VMs it has a present copy of (a host's copies without a scan of every VM). */
  private readonly copiesByHost = new Map<string, Set<string>>();
  /** Copies already asked to go: `${vm}@${host}`. */
  private readonly removing = new Set<string>();
  /** VMs being deleted through the API: their host's "gone" is expected. */
  private readonly deleting = new Set<string>();
  /** VMs present in the last complete inventory of each host (absent: no complete inventory yet). */
  private readonly inventories = new Map<string, Set<string>>();
  /** Copies in the middle of an operation of their host's journal (a migration in doubt): `${vm}@${host}`. */
  private readonly busyCopies = new Set<string>();
  /** Last session seen of each host that is up. */
  private readonly sessions = new Map<string, number | undefined>();
  private readonly timer: NodeJS.Timeout;
  /** A periodic pass is settling copies (over several turns of the event loop). */
  private settling = false;
  private stopped = false;

  constructor(private readonly o: ReconcilerOptions) {
    o.fleet.on('host', (h: FleetHost) => this.onHost(h));
    o.fleet.on('vm-state', (s: FleetVmState) => this.onVmState(s));
    o.fleet.on('inventory', (i: FleetInventory) => this.applyInventory(i));
    this.timer = setInterval(() => this.pass(), o.intervalMs).unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** Marks a VM as being deleted through the API (until `deleted` is called, or the delete fails). */
  beginDelete(id: string): void {
    this.deleting.add(id);
  }

  endDelete(id: string): void {
    this.deleting.delete(id);
  }

  /** Where hosts report the VM (present copies), with their libvirt states. */
  copiesOf(id: string): ReadonlyMap<string, string> {
    return this.copies.get(id) ?? new Map();
  }

  private present(vm: string, host: string): string | undefined {
    return this.copies.get(vm)?.get(host);
  }

  private record(vm: string, host: string, state: string): void {
    let m = this.copies.get(vm);
    if (ABSENT.has(state)) {
      m?.delete(host);
      if (m?.size === 0) this.copies.delete(vm);
      const mine = this.copiesByHost.get(host);
      mine?.delete(vm);
      if (mine?.size === 0) this.copiesByHost.delete(host);
      this.removing.delete(`${vm}@${host}`);
      return;
    }
    if (!m) {
      m = new Map();
      this.copies.set(vm, m);
    }
    m.set(host, state);
    let mine = this.copiesByHost.get(host);
    if (!mine) {
      mine = new Set();
      this.copiesByHost.set(host, mine);
    }
    mine.add(vm);
  }

  /** VMs the host has a present copy of (a snapshot: settling may change the index). */
  private copiesOn(host: string): string[] {
    return [...(this.copiesByHost.get(host) ?? [])];
  }

  private onHost(h: FleetHost): void {
    if (!h.up) {
      this.sessions.delete(h.id);
      this.inventories.delete(h.id);
      for (const vm of this.o.store.list({ hostId: h.id, states: ['running', 'stopped'] })) {
        this.o.store.transition(vm.id, 'unknown', `host ${h.id} is down`);
      }
    } else {
      const known = this.sessions.has(h.id);
      const prev = this.sessions.get(h.id);
      this.sessions.set(h.id, h.session);
      if (!known || prev !== h.session) {
        // the agent came back (or restarted): what was sent to it may be lost or unanswered
        this.o.deployer.hostReturned(h.id);
        // commands in flight to it that asked for it go again (the dead process never answers them)
        this.o.dispatcher.hostReturned?.(h.id);
        for (const key of [...this.removing]) if (key.endsWith(`@${h.id}`)) this.removing.delete(key);
      }
      for (const vm of this.o.store.list({ hostId: h.id, states: ['scheduled', 'deploying'] })) {
        if (!this.o.deployer.isDeploying(vm.id)) void this.o.deployer.deploy(vm.id);
      }
      // the host's copies only (a scan of every VM of the fleet per host event was quadratic: minutes
      // for 10,000 hosts coming back)
      for (const vm of this.copiesOn(h.id)) this.settle(vm, h.id);
    }
    this.o.kick();
  }

  private onVmState(s: FleetVmState): void {
    this.record(s.vm, s.host, s.state);
    this.settle(s.vm, s.host);
  }

  /**
   * Applies a host's inventory: each VM it lists, and (when complete) each VM it does not. A domain the
   * agent has no record of (unclaimed) is claimed by resending its deploy with the same key when it is
   * the VM's deploy in flight there; otherwise the agent removes it after its grace period.
   */
  applyInventory(r: FleetInventory): void {
    for (const u of r.unclaimed) {
      const vm = this.o.store.find(u.vm);
      if (vm?.state === 'deploying' && vm.hostId === r.host && !this.o.deployer.isDeploying(vm.id))
        void this.o.deployer.deploy(vm.id);
    }
    const listed = new Set<string>();
    const busy = new Set<string>();
    for (const key of [...this.busyCopies]) if (key.endsWith(`@${r.host}`)) this.busyCopies.delete(key);
    for (const v of r.vms) {
      this.record(v.vm, r.host, v.state);
      if (!ABSENT.has(v.state)) listed.add(v.vm);
      if (v.busy) {
        busy.add(v.vm);
        this.busyCopies.add(`${v.vm}@${r.host}`);
      }
    }
    if (r.complete) {
      this.inventories.set(r.host, listed);
      for (const vm of this.copiesOn(r.host)) if (!listed.has(vm)) this.record(vm, r.host, 'missing');
    } else this.inventories.delete(r.host);
    // a VM in the middle of an operation of the agent's journal is left alone until it finishes
    for (const v of r.vms) if (!busy.has(v.vm)) this.settle(v.vm, r.host);
    if (!r.complete) return;
    for (const vm of this.o.store.list({ hostId: r.host, states: ['running', 'stopped', 'unknown', 'deploying'] })) {
      if (listed.has(vm.id) || busy.has(vm.id)) continue;
      if (vm.state === 'deploying') {
        // the same key first: the agent answers with the attempt's real outcome
        if (!this.o.deployer.isDeploying(vm.id)) void this.o.deployer.deploy(vm.id);
      } else this.absent(vm, r.host, 'not in its complete inventory');
    }
  }

  /**
   * A deploy's outcome is unknown (the agent could not say): if its host reports the VM, that settles
   * it, and the VM is taken as running there; otherwise the same key is sent again later.
   */
  unresolved(id: string, host: string, code: string): void {
    const state = this.present(id, host);
    const vm = this.o.store.find(id);
    if (vm?.state !== 'deploying' || vm.hostId !== host) return;
    // a copy still in the middle of the agent's create (busy), or defined and not started (a create cut
    // there, which recovery may undo), settles nothing: the same key again gets the agent's real outcome
    if (state !== undefined && !this.busyCopies.has(`${id}@${host}`) && state !== 'shutoff') {
      this.adopt(vm, host, state);
      return;
    }
    // an agent that recorded "interrupted" under the key answers it forever: when its complete
    // inventory shows no copy, a new attempt (new key) goes to the same host
    if (code === 'STRATUS_ERR_COMMAND_INTERRUPTED' && this.inventories.get(host)?.has(id) === false) {
      setImmediate(() =>
        this.o.deployer.retryHere(
          id,
          `host ${host} has no copy of the VM after an interrupted deploy: deploying again there`,
        ),
      );
    }
  }

  /** Decides about one VM as one host reports it (present with a state, or absent). */
  settle(id: string, host: string): void {
    const state = this.present(id, host);
    const vm = this.o.store.find(id);
    if (vm && (this.deleting.has(id) || this.o.isMoving?.(id))) return;
    if (state === undefined) {
      if (vm) this.absent(vm, host, 'reported gone');
      return;
    }
    if (!vm) {
      const key = `${id}@${host}`;
      if (!this.unknownReported.has(key)) {
        this.unknownReported.add(key);
        this.o.log.warn({ vm: id, host }, 'host runs a VM this controller has no record of; left alone');
      }
      return;
    }
    if (vm.state === 'deleted') {
      this.removeCopy(id, host, 'its VM is deleted');
      return;
    }
    if (vm.hostId === host) {
      if (['running', 'stopped', 'unknown', 'lost'].includes(vm.state)) {
        this.o.store.setObserved(vm.id, { ...vm.observed, libvirtState: state });
        const to = controllerState(state);
        if (to && to !== vm.state) {
          const why =
            vm.state === 'lost' ? `host ${host} has it again: ${state}` : `reported by host ${host}: ${state}`;
          this.o.store.transition(vm.id, to, why);
        }
      } else if (vm.state === 'deploying') {
        // the deploy's answer may be lost: the same key again gets the agent's real outcome
        if (!this.o.deployer.isDeploying(id)) void this.o.deployer.deploy(id);
      } else if (vm.state === 'failed') this.adopt(vm, host, state);
      return;
    }
    if (vm.hostId === null) {
      if (vm.state === 'pending' || vm.state === 'failed') this.adopt(vm, host, state);
      return;
    }
    // placed on another host
    if (vm.state === 'lost') {
      this.adopt(vm, host, state);
      return;
    }
    // the wanted copy must be confirmed: reported, and not in doubt on its host (a migration away unsettled)
    const wanted = this.present(id, vm.hostId);
    if (
      ['running', 'stopped'].includes(vm.state) &&
      wanted !== undefined &&
      !this.busyCopies.has(`${id}@${vm.hostId}`)
    ) {
      this.removeCopy(id, host, `the VM runs on ${vm.hostId}`);
      return;
    }
    this.o.log.warn(
      { vm: id, host, wanted: vm.hostId, state: vm.state },
      'a second copy of a VM: kept until the wanted copy is confirmed by its host',
    );
  }

  private absent(vm: VmRecord, host: string, why: string): void {
    if (vm.hostId !== host || this.deleting.has(vm.id) || this.o.isMoving?.(vm.id)) return;
    if (['running', 'stopped', 'unknown'].includes(vm.state)) {
      this.o.store.transition(vm.id, 'lost', `host ${host} no longer has the VM (${why}); not redeployed`);
      this.o.log.warn({ vm: vm.id, host }, 'VM lost: its host no longer has it');
    } else if (vm.state === 'deploying' && !this.o.deployer.isDeploying(vm.id)) {
      void this.o.deployer.deploy(vm.id);
    }
  }

  /** A VM the controller does not have running anywhere is taken as running where a host reports it. */
  private adopt(vm: VmRecord, host: string, state: string): void {
    const to = controllerState(state) ?? 'running';
    this.o.store.transition(vm.id, to, `adopted: host ${host} reports it ${state} (was ${vm.state})`, {
      hostId: host,
    });
    this.o.log.warn({ vm: vm.id, host, was: vm.state }, 'VM adopted from its host');
    this.o.kick();
  }

  /** Deletes a copy of a VM on a host that should not have it. */
  private removeCopy(id: string, host: string, why: string): void {
    const mark = `${id}@${host}`;
    if (this.removing.has(mark) || !this.o.fleet.host(host)?.up) return;
    this.removing.add(mark);
    this.o.log.warn({ vm: id, host, why }, 'unwanted copy of a VM: deleting it on its host');
    this.o.dispatcher
      .dispatch(
        host,
        'delete',
        { vm: id },
        { key: `remove:${id}:${host}:${randomUUID()}`, timeoutMs: this.o.actionTimeoutMs },
      )
      .then(() => this.record(id, host, 'deleted'))
      .catch((err) => {
        // the host has no such VM (a late or stale report): that copy is gone, not to be asked again
        if (err instanceof StratusError && err.status === 404) {
          this.o.log.info({ vm: id, host }, 'the unwanted copy is already gone from its host');
          this.record(id, host, 'deleted');
          return;
        }
        this.removing.delete(mark);
        this.o.log.warn({ vm: id, host, err: (err as Error).message }, 'could not delete the unwanted copy');
      });
  }

  /**
   * Periodic: resend unresolved deploys on hosts that are up, settle copies, let the scheduler retry.
   * Copies are settled SETTLE_CHUNK per turn of the event loop: all of a large fleet's at once (100,000
   * VMs) held the controller for seconds, and with it the broker and the ingest.
   */
  pass(): void {
    try {
      for (const vm of this.o.store.list({ states: ['deploying'] })) {
        if (vm.hostId && !this.o.deployer.isDeploying(vm.id) && this.o.fleet.host(vm.hostId)?.up)
          void this.o.deployer.deploy(vm.id);
      }
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'reconcile pass failed');
      return;
    }
    if (this.settling) return; // the previous pass is still settling
    const work: [string, string][] = [];
    for (const [vm, hosts] of this.copies) for (const host of hosts.keys()) work.push([vm, host]);
    this.settling = true;
    const step = (from: number) => {
      try {
        const end = Math.min(from + SETTLE_CHUNK, work.length);
        for (let i = from; i < end; i++) {
          const [vm, host] = work[i]!;
          if (this.copies.get(vm)?.has(host)) this.settle(vm, host); // still reported since the pass began
        }
        if (end < work.length && !this.stopped) {
          setImmediate(() => step(end));
          return;
        }
        this.o.kick();
      } catch (err) {
        this.o.log.error({ err: (err as Error).message }, 'reconcile pass failed');
      }
      this.settling = false;
    };
    step(0);
  }
}
