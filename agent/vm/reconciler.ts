// Keeps the recorded desired state and libvirt's domains in step, kubelet-style. On start it adopts the
// running `stratus-*` domains it knows without touching them and reports the ones it does not; libvirt
// events are the fast path; a periodic full comparison (and one after every reconnect) catches the rest.

import type { Logger } from 'pino';
import type { DomainSummary, LibvirtConnection, LifecycleEventInfo } from '../../drivers/libvirt/index.ts';
import { DOMAIN_PREFIX } from './domain-xml.ts';
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
}

export class Reconciler {
  private ready = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private unmanagedDomains: DomainSummary[] = [];

  constructor(private readonly o: ReconcilerOptions) {}

  get isReady(): boolean {
    return this.ready;
  }

  /** `stratus-*` domains on this host that the agent has no record of: reported, never touched. */
  get unmanaged(): DomainSummary[] {
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
    const byUuid = new Map(domains.map((d) => [d.uuid, d]));
    for (const r of this.o.db.list()) {
      if (this.o.vms.locks.isLocked(r.id)) continue;
      try {
        await this.o.vms.locks.run(r.id, () => this.compareOne(r, byUuid.get(r.id)));
      } catch (err) {
        this.o.log.error({ vm: r.id, err: (err as Error).message }, 'reconcile failed for VM');
      }
    }
    const incoming = new Set((this.o.incoming?.() ?? []).map((s) => s.id));
    const unmanaged = domains.filter(
      (d) => d.name.startsWith(DOMAIN_PREFIX) && !this.o.db.get(d.uuid) && !incoming.has(d.uuid),
    );
    for (const d of unmanaged) {
      if (!this.unmanagedDomains.some((u) => u.uuid === d.uuid)) {
        this.o.log.warn(
          { domain: d.name, uuid: d.uuid, state: d.state },
          'unmanaged stratus domain on this host; left alone',
        );
      }
    }
    this.unmanagedDomains = unmanaged;
    try {
      await this.o.network?.removeStale(() => [...this.o.db.list().map((r) => r.spec), ...(this.o.incoming?.() ?? [])]);
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'cannot clean up firewall rules; will retry');
    }
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
      if (now && !this.o.vms.locks.isLocked(e.uuid) && this.ready) this.adjustDesired(now, d.active);
    } catch {
      // gone or disconnected: the next full comparison settles it
    }
  }
}
