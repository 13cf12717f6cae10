// The agent's MQTT side: keeps the host's retained status, information, inventory and per-VM state on
// the broker (republished in full at each connect), sends host and VM metrics every interval, streams
// VM state changes and audit events through the ordered outbox, and executes commands. Started by
// agent/daemon.ts when [mqtt] url is set, once recovery is done.

import type { Logger } from 'pino';
import { asStratusError } from '../../common/errors.ts';
import { type LibvirtConnection, STATS_DEFAULT, STATS_NOWAIT } from '../../drivers/libvirt/index.ts';
import {
  decode,
  filters,
  type HostInventory,
  HostStatus,
  type InventoryVm,
  topics,
  type VmState,
} from '../../protocol/mqtt/index.ts';
import type { Reconciler } from '../vm/reconciler.ts';
import type { AgentConfig } from '../config.ts';
import type { AgentStateDb } from '../vm/state-db.ts';
import { collectHostInfo, type DiskReporter, HostSampler, type ImageLister } from '../telemetry/host-telemetry.ts';
import { VmSampler } from '../telemetry/vm-telemetry.ts';
import type { VmService, VmView } from '../vm/vm-service.ts';
import { interruptedOutcome } from '../vm/recovery.ts';
import { CommandStore } from './command-store.ts';
import { CommandExecutor, type CommandLookup } from './commands.ts';
import { MqttLink } from './link.ts';
import { SessionStore } from './session-store.ts';

export interface MqttAgentOptions {
  config: AgentConfig;
  hostId: string;
  conn: LibvirtConnection;
  db: AgentStateDb;
  vms: VmService;
  registry: CommandLookup;
  log: Logger;
  images?: ImageLister;
  /** The disk of the instance directory, reported in the host information for the scheduler. */
  disk?: DiskReporter;
  /** Recovery state and unclaimed domains, for the inventory. */
  reconciler?: Reconciler;
}

type VmStateBody = Omit<VmState, 'v' | 'ts' | 'host' | 'session' | 'seq'>;
type InventoryBody = Omit<HostInventory, 'v' | 'ts' | 'host' | 'session' | 'seq'>;

/** Inventory changes closer together than this go out as one message. */
const INVENTORY_DEBOUNCE_MS = 200;

export class MqttAgent {
  readonly link: MqttLink;
  readonly executor: CommandExecutor;
  private readonly log: Logger;
  private readonly hostSampler = new HostSampler();
  private readonly vmSampler = new VmSampler();
  /** VMs whose state is on the broker, with the last published body. */
  private readonly published = new Map<string, VmStateBody>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private ticks = 0;
  /** The last information published (without its envelope), to republish only on change. */
  private lastInfo = '';
  private readonly onChanged = (v: VmView) => this.vmChanged(v);
  private readonly onInventory = () => this.inventoryChanged();
  /** The last inventory published (without envelope and generation), and its generation. */
  private lastInventory = '';
  /** Starts at the clock so that a restarted agent's generations stay above its previous ones. */
  private generation = Date.now();
  private inventoryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: MqttAgentOptions) {
    this.log = o.log.child({ part: 'mqtt' });
    this.link = new MqttLink({
      config: o.config.mqtt,
      hostId: o.hostId,
      sessions: new SessionStore(o.db.db),
      log: this.log,
    });
    this.executor = new CommandExecutor({
      registry: o.registry,
      store: new CommandStore(o.db.db),
      log: this.log,
      maxPayloadBytes: o.config.mqtt.max_payload_bytes,
      reply: (id, body) => this.link.publishEvent(topics.reply(o.hostId, id), body),
      event: (kind, severity, message, data) => this.event(kind, severity, message, data),
      interrupted: (cmd) => interruptedOutcome(o.vms, cmd.key),
    });
  }

  start(): void {
    const host = this.o.hostId;
    this.link.subscribe(filters.hostCommands(host), (topic, payload) =>
      this.executor.handle(topic.slice(topic.lastIndexOf('/') + 1), payload),
    );
    this.link.subscribe(topics.hostStatus(host), (_t, payload) => {
      this.ownStatus(payload);
      return true;
    });
    this.link.on('connected', () => void this.publishAll());
    this.o.vms.on('changed', this.onChanged);
    this.o.vms.on('changed', this.onInventory);
    this.o.vms.on('adopted', this.onInventory);
    this.o.vms.on('removed', this.onInventory);
    this.o.vms.journal.onChange = this.onInventory;
    if (this.o.reconciler) this.o.reconciler.onUnclaimedChange = this.onInventory;
    this.o.conn.on('connected', this.onInventory);
    this.o.conn.on('disconnected', this.onInventory);
    this.link.start();
    this.timer = setInterval(() => void this.tick(), this.o.config.mqtt.metrics_interval_s * 1000);
    this.timer.unref();
  }

  /** Records an event on the host stream (queued while the broker is unreachable). */
  event(kind: string, severity: 'info' | 'warning' | 'error', message: string, data: object = {}, vm?: string): void {
    this.link.publishEvent(topics.hostEvents(this.o.hostId), {
      kind,
      severity,
      message,
      ...(vm ? { vm } : {}),
      data,
    });
  }

  /** A late Last Will of an older session landed on our retained status: put "online" back. */
  private ownStatus(payload: Buffer): void {
    if (payload.length === 0) return;
    try {
      const s = decode(HostStatus, payload);
      if (s.state === 'offline' && s.session < this.link.session && this.link.connected) {
        this.log.warn(
          { staleSession: s.session, session: this.link.session },
          'stale Last Will seen; republishing online',
        );
        this.link.publishState(topics.hostStatus(this.o.hostId), this.link.statusBody('online', 'connected'), {
          retain: true,
        });
      }
    } catch {
      // not ours to judge
    }
  }

  private stateBody(v: VmView): VmStateBody {
    return {
      vm: v.id,
      name: v.name,
      state: v.state,
      desired: v.desired,
      reason: v.reason.slice(0, 512),
      vcpus: v.spec.vcpus,
      memoryMiB: v.spec.memoryMiB,
      addresses: v.spec.nics.map((n) => ({
        mac: n.mac,
        bridge: n.bridge,
        ...(n.network ? { network: n.network } : {}),
        ips: [...(n.ipv4 ?? []), ...(n.ipv6 ?? [])],
      })),
      updatedAt: v.updatedAt,
    };
  }

  private publishVm(body: VmStateBody): void {
    this.published.set(body.vm, body);
    this.link.publishState(
      topics.vmState(this.o.hostId, body.vm),
      { ...this.link.envelope(), ...body },
      { retain: true },
    );
  }

  private vmChanged(v: VmView): void {
    const before = this.published.get(v.id);
    const body = this.stateBody(v);
    this.publishVm(body);
    if (before?.state !== body.state) {
      this.event(
        'vm.state',
        body.state === 'crashed' ? 'error' : 'info',
        `VM ${v.name} is ${body.state}`,
        {
          from: before?.state ?? null,
          to: body.state,
          desired: body.desired,
        },
        v.id,
      );
    }
  }

  /** At each connect: status, information, every VM state; then the outbox replays queued events. */
  private async publishAll(): Promise<void> {
    const host = this.o.hostId;
    this.link.publishState(topics.hostStatus(host), this.link.statusBody('online', 'connected'), { retain: true });
    for (const v of this.o.vms.list()) this.publishVm(this.stateBody(v));
    this.lastInventory = '';
    this.publishInventory();
    this.lastInfo = '';
    await this.refreshInfo();
  }

  private inventoryChanged(): void {
    if (this.inventoryTimer) return;
    this.inventoryTimer = setTimeout(() => {
      this.inventoryTimer = undefined;
      this.publishInventory();
    }, INVENTORY_DEBOUNCE_MS);
    this.inventoryTimer.unref();
  }

  /** Every VM with a record or an unfinished create, and the unclaimed domains of this host. */
  inventoryBody(): Omit<InventoryBody, 'generation'> {
    const journal = this.o.vms.journal;
    const rec = this.o.reconciler;
    const vms: InventoryVm[] = [];
    const seen = new Set<string>();
    const operation = (id: string): InventoryVm['operation'] | undefined => {
      const op = journal.openFor(id);
      if (!op) return undefined;
      const phase = op.status === 'undoing' ? 'undoing' : this.o.vms.locks.isLocked(id) ? 'running' : 'resuming';
      return { kind: op.kind, phase, since: op.startedAt, ...(op.key ? { key: op.key } : {}) };
    };
    for (const v of this.o.vms.list()) {
      seen.add(v.id);
      const op = operation(v.id);
      vms.push({
        vm: v.id,
        name: v.name,
        state: v.state,
        desired: v.desired,
        createdAt: v.createdAt,
        ...(v.key ? { key: v.key } : {}),
        ...(v.specHash ? { specHash: v.specHash } : {}),
        ...(op ? { operation: op } : {}),
      });
    }
    for (const op of journal.unfinished()) {
      if (seen.has(op.vm) || op.kind !== 'create') continue;
      seen.add(op.vm);
      const spec = op.data['spec'] as { name?: string } | undefined;
      vms.push({
        vm: op.vm,
        name: spec?.name ?? '',
        state: 'missing',
        desired: op.data['start'] === false ? 'stopped' : 'running',
        createdAt: op.startedAt,
        ...(op.key ? { key: op.key } : {}),
        ...(typeof op.data['specHash'] === 'string' ? { specHash: op.data['specHash'] } : {}),
        operation: operation(op.vm)!,
      });
    }
    const unclaimed = (rec?.unmanaged ?? []).map((u) => ({
      vm: u.uuid,
      name: u.name,
      state: u.state,
      removeAt: u.removeAt,
      ...(u.key ? { key: u.key } : {}),
      ...(u.specHash ? { specHash: u.specHash } : {}),
    }));
    // complete unless an interrupted operation is still unsettled (one running in this process is `busy`)
    const unsettled = journal.unfinished().some((op) => !this.o.vms.locks.isLocked(op.vm));
    const complete = (rec?.isReady ?? true) && this.o.conn.connected && !unsettled;
    return { complete, vms, unclaimed };
  }

  /** Publishes the inventory (retained) when it differs from the last one published. */
  publishInventory(): void {
    if (!this.link.connected) return;
    const body = this.inventoryBody();
    const text = JSON.stringify(body);
    if (text === this.lastInventory) return;
    this.lastInventory = text;
    this.generation++;
    this.link.publishState(
      topics.hostInventory(this.o.hostId),
      { ...this.link.envelope(), ...body, generation: this.generation },
      { retain: true },
    );
  }

  /** Publishes the host information if it changed (images cached or evicted, a new bridge, ...). */
  async refreshInfo(): Promise<void> {
    try {
      const info = await collectHostInfo(this.o.conn, this.o.config.libvirt.virt_type, this.o.images, this.o.disk);
      const text = JSON.stringify(info);
      if (text === this.lastInfo || !this.link.connected) return;
      this.lastInfo = text;
      this.link.publishState(topics.hostInfo(this.o.hostId), { ...this.link.envelope(), ...info }, { retain: true });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot collect host information');
    }
  }

  /** Every interval: host metrics, VM metrics batch, and VMs deleted since the last look. */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      this.forgetDeleted();
      if (!this.link.connected) return;
      this.publishInventory();
      // information changes rarely: look again about once a minute
      if (++this.ticks % Math.max(1, Math.round(60 / this.o.config.mqtt.metrics_interval_s)) === 0) {
        await this.refreshInfo();
      }
      const host = this.o.hostId;
      const intervalS = this.o.config.mqtt.metrics_interval_s;
      const ts = Date.now(); // the sampling instant, so that timestamps follow the interval exactly
      const metrics = await this.hostSampler.sample(intervalS, this.published.size);
      this.link.publishState(topics.hostMetrics(host), { ...this.link.envelope(), ts, ...metrics }, { qos: 0 });
      if (this.o.conn.connected) {
        // only this host's VMs: other agents may share the libvirtd; a domain busy with a job (starting,
        // migrating) is not waited for (NOWAIT: it would hold a call worker up to libvirt's 30 s job wait)
        const own = (await this.o.conn.allDomainStats(STATS_DEFAULT, STATS_NOWAIT)).filter(
          (r) => this.o.db.get(r.uuid) !== undefined,
        );
        const vms = this.vmSampler.batch(own, ts);
        this.link.publishState(topics.vmMetrics(host), { ...this.link.envelope(), ts, intervalS, vms }, { qos: 0 });
      }
    } catch (err) {
      this.log.warn({ err: asStratusError(err).message }, 'metrics collection failed');
    } finally {
      this.ticking = false;
    }
  }

  private forgetDeleted(): void {
    const present = new Set(this.o.vms.list().map((v) => v.id));
    for (const [id, body] of this.published) {
      if (present.has(id)) continue;
      this.published.delete(id);
      const topic = topics.vmState(this.o.hostId, id);
      this.link.publishState(topic, { ...this.link.envelope(), ...body, state: 'deleted' }, { retain: true });
      this.link.publishState(topic, Buffer.alloc(0), { retain: true });
      this.event('vm.deleted', 'info', `VM ${body.name} deleted`, {}, id);
    }
  }

  /** Called right after a delete so that the deletion goes out at once rather than at the next tick. */
  vmDeleted(): void {
    this.forgetDeleted();
  }

  /** First step of a stop: no new command is taken (they stay with the broker); running ones finish. */
  async quiesce(timeoutMs: number): Promise<void> {
    this.executor.stop();
    await this.executor.drain(timeoutMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.inventoryTimer) clearTimeout(this.inventoryTimer);
    this.executor.stop();
    this.o.vms.off('changed', this.onChanged);
    this.o.vms.off('changed', this.onInventory);
    this.o.vms.off('adopted', this.onInventory);
    this.o.vms.off('removed', this.onInventory);
    this.o.conn.off('connected', this.onInventory);
    this.o.conn.off('disconnected', this.onInventory);
    await this.link.stop();
  }
}
