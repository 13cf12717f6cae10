// Keeps the recorded desired state and libvirt's domains in step, kubelet-style. On start it first
// settles the operations a crash interrupted (agent/vm/recovery.ts), then adopts the running domains it
// knows without touching them. Only domains whose Stratus metadata carries this host id are ever
// looked at (several agents may share one libvirtd): one of those without a record is "unclaimed" and
// removed after `orphan_grace_s` unless the controller claims it. libvirt events are the fast path; a
// periodic full comparison (and one after every reconnect) catches the rest.

import type { Logger } from 'pino';
import type { DomainSummary, LibvirtConnection, LifecycleEventInfo } from '../../drivers/libvirt/index.ts';
import { DOMAIN_PREFIX, type StratusMetadata } from './domain-xml.ts';
import type { OperationRecovery } from './recovery.ts';
import type { AgentStateDb, VmRecord } from './state-db.ts';
import type { VmService } from './vm-service.ts';
import type { VmNetwork } from '../network/vm-network.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';

export interface ReconcilerOptions {
  conn: LibvirtConnection;
  db: AgentStateDb;
  vms: VmService;
  log: Logger;
  intervalMs: number;
  /** Re-applies per-VM firewall rules on each full comparison (agent/network/vm-network.ts). */
  network?: VmNetwork;
  /** VMs being migrated to this host (agent/vm/migration.ts): their domains and rules are not strays. */
  incoming?: () => VmSpec[];
  /** Settles interrupted operations before anything else. */
  recovery: OperationRecovery;
  /** This agent's host id: only domains whose metadata carries it are ours. */
  hostId: string;
  /** Milliseconds an unclaimed domain is kept before it is removed. */
  orphanGraceMs: number;
  /** Reports orphan handling (host event stream). */
  event?: (kind: string, severity: 'info' | 'warning' | 'error', message: string, vm: string, data: object) => void;
}

/** A domain with this host's id in its metadata and no record. */
export interface UnclaimedDomain extends DomainSummary {
  key: string | undefined;
  specHash: string | undefined;
  firstSeen: number;
  removeAt: number;
}

export class Reconciler {
  private ready = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private unmanagedDomains: UnclaimedDomain[] = [];
  /** Metadata by domain UUID (it never changes for a UUID): null when the domain has none. */
  private readonly metadata = new Map<string, StratusMetadata | null>();
  /** Open operations after the last settling (the inventory marks itself incomplete while any is). */
  openOperations = 0;
  /** Called when the unclaimed list changes. */
  onUnclaimedChange: () => void = () => undefined;

  constructor(private readonly o: ReconcilerOptions) {}

  get isReady(): boolean {
    return this.ready;
  }

  /** Domains with this host's id and no record: reported, removed once their grace period is over. */
  get unmanaged(): UnclaimedDomain[] {
    return this.unmanagedDomains;
  }

  async start(): Promise<void> {
    this.o.conn.on('lifecycle', (e) => void this.onEvent(e));
    this.o.conn.on('connected', ({ reconnect }) => {
      if (reconnect) {
        this.o.log.info('libvirt connection back; resynchronising');
        void this.resync();
      }
    });
    this.o.conn.on('disconnected', ({ reason }) =>
      this.o.log.warn({ reason }, 'libvirt connection lost; reconnecting'),
    );
    this.openOperations = await this.o.recovery.settleAll();
    await this.resync();
    this.ready = true;
    this.o.log.info({ vms: this.o.db.list().length, unmanaged: this.unmanagedDomains.length }, 'recovery done');
    this.timer = setInterval(() => void this.resync(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One full comparison; concurrent callers share the run in progress. */
  resync(): Promise<void> {
    this.running ??= this.compareAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async compareAll(): Promise<void> {
    if (!this.o.conn.connected) return;
    let domains: DomainSummary[];
    try {
      domains = await this.o.conn.listDomains();
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'cannot list domains; will retry');
      return;
    }
    this.openOperations = this.o.vms.journal.unfinished().length > 0 ? await this.o.recovery.settleAll() : 0;
    const byUuid = new Map(domains.map((d) => [d.uuid, d]));
    for (const r of this.o.db.list()) {
      if (this.o.vms.locks.isLocked(r.id) || this.o.vms.journal.openFor(r.id)) continue;
      try {
        await this.o.vms.locks.run(r.id, () => this.compareOne(r, byUuid.get(r.id)));
      } catch (err) {
        this.o.log.error({ vm: r.id, err: (err as Error).message }, 'reconcile failed for VM');
      }
    }
    const incoming = new Set((this.o.incoming?.() ?? []).map((s) => s.id));
    await this.unclaimed(domains.filter((d) => !incoming.has(d.uuid)));
    try {
      await this.o.network?.removeStale(() => [...this.o.db.list().map((r) => r.spec), ...(this.o.incoming?.() ?? [])]);
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'cannot clean up firewall rules; will retry');
    }
  }

  /** The domain's Stratus metadata, read once per UUID; undefined for foreign or vanished domains. */
  private async metadataOf(d: DomainSummary): Promise<StratusMetadata | undefined> {
    const known = this.metadata.get(d.uuid);
    if (known !== undefined) return known ?? undefined;
    const meta = await this.o.vms.metadataOf(d.uuid);
    this.metadata.set(d.uuid, meta ?? null);
    return meta;
  }

  /**
   * Domains of this host (by metadata) without a record and without an open operation: listed, then
   * removed once their grace period is over. Other hosts' and foreign domains are never touched.
   */
  private async unclaimed(domains: DomainSummary[]): Promise<void> {
    const now = Date.now();
    const before = new Map(this.unmanagedDomains.map((u) => [u.uuid, u]));
    const next: UnclaimedDomain[] = [];
    for (const d of domains) {
      if (!d.name.startsWith(DOMAIN_PREFIX) || this.o.db.get(d.uuid)) continue;
      if (this.o.vms.locks.isLocked(d.uuid) || this.o.vms.journal.openFor(d.uuid)) continue;
      let meta: StratusMetadata | undefined;
      try {
        meta = await this.metadataOf(d);
      } catch {
        continue; // gone meanwhile, or libvirt lost: next time
      }
      if (meta?.host !== this.o.hostId) continue; // not ours: another agent's, or not made by Stratus
      const seen = before.get(d.uuid);
      const u: UnclaimedDomain = {
        ...d,
        key: meta.key,
        specHash: meta.specHash,
        firstSeen: seen?.firstSeen ?? now,
        removeAt: seen?.removeAt ?? now + this.o.orphanGraceMs,
      };
      if (!seen) {
        this.o.log.warn(
          { domain: d.name, vm: d.uuid, state: d.state, removeAt: new Date(u.removeAt).toISOString() },
          'domain of this host without a record; removed after the grace period unless claimed',
        );
        this.o.event?.('vm.unclaimed', 'warning', `domain ${d.name} of this host has no record`, d.uuid, {
          state: d.state,
          removeAt: u.removeAt,
          ...(meta.key ? { key: meta.key } : {}),
        });
      }
      if (now >= u.removeAt && (await this.removeOrphan(u))) continue;
      next.push(u);
    }
    const changed =
      next.length !== this.unmanagedDomains.length || next.some((u) => before.get(u.uuid)?.state !== u.state);
    this.unmanagedDomains = next;
    if (changed) this.onUnclaimedChange();
  }

  private async removeOrphan(u: UnclaimedDomain): Promise<boolean> {
    try {
      await this.o.vms.locks.run(u.uuid, async () => {
        if (this.o.db.get(u.uuid)) return; // claimed at the last moment
        await this.o.vms.removeEverything(u.uuid, undefined);
      });
    } catch (err) {
      this.o.log.error({ vm: u.uuid, err: (err as Error).message }, 'cannot remove an unclaimed domain; will retry');
      return false;
    }
    this.metadata.delete(u.uuid);
    this.o.log.warn({ vm: u.uuid, domain: u.name }, 'unclaimed domain removed after its grace period');
    this.o.event?.('vm.orphan-removed', 'warning', `unclaimed domain ${u.name} removed`, u.uuid, {
      state: u.state,
      ...(u.key ? { key: u.key } : {}),
    });
    return true;
  }

  private async compareOne(r: VmRecord, d: DomainSummary | undefined): Promise<void> {
    const log = this.o.log.child({ vm: r.id });
    const current = this.o.db.get(r.id);
    if (!current) return; // deleted meanwhile
    await this.o.network?.reapply(current.spec).catch((err: Error) => {
      log.error({ err: err.message }, 'cannot re-apply firewall rules; will retry');
    });
    if (!d) {
      log.warn({ desired: r.desired }, 'domain missing from libvirt; defining it again');
      await this.o.vms.redefine(r);
      if (r.desired === 'running') await this.o.conn.startDomain(r.id);
      const now = await this.o.conn.getDomain(r.id);
      this.o.vms.observe(r.id, now.state);
      return;
    }
    this.o.vms.observe(r.id, d.state);
    this.adjustDesired(current, d.active);
  }

  /** Power changes made outside Stratus (guest power-off, virsh) are accepted, as Nova's power sync does. */
  private adjustDesired(r: VmRecord, active: boolean): void {
    if (r.desired === 'running' && !active) {
      this.o.db.setDesired(r.id, 'stopped', 'stopped outside Stratus (guest power-off, crash or virsh)');
      this.o.log.info({ vm: r.id }, 'VM stopped outside Stratus; desired state now stopped');
    } else if (r.desired === 'stopped' && active) {
      this.o.db.setDesired(r.id, 'running', 'started outside Stratus');
      this.o.log.info({ vm: r.id }, 'VM started outside Stratus; desired state now running');
    }
  }

  private async onEvent(e: LifecycleEventInfo): Promise<void> {
    const r = this.o.db.get(e.uuid);
    if (!r) return;
    this.o.log.debug({ vm: e.uuid, event: e.event, detail: e.detail }, 'libvirt event');
    if (e.event === 'undefined') {
      if (!this.o.vms.locks.isLocked(e.uuid)) this.o.vms.observe(e.uuid, 'missing');
      return;
    }
    try {
      const d = await this.o.conn.getDomain(e.uuid);
      this.o.vms.observe(e.uuid, d.state);
      const now = this.o.db.get(e.uuid);
      if (now && !this.o.vms.locks.isLocked(e.uuid) && !this.o.vms.journal.openFor(e.uuid) && this.ready) {
        this.adjustDesired(now, d.active);
      }
    } catch {
      // gone or disconnected: the next full comparison settles it
    }
  }
}
