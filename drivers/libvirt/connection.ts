// A connection to libvirtd: typed domain and host operations (run on call workers), lifecycle events
// (from libvirt's event loop), and automatic reconnection when libvirtd goes away and comes back.
// libvirtd runs at most `max_client_requests` (default 5) calls of one client at a time and stops
// reading that client's socket meanwhile, so one busy connection would hold quick calls (and its
// keepalive answers) behind slow domain starts: calls go to the primary connection (events, keepalive)
// while it has fewer than CALLS_PER_CONNECTION in flight, then to extra connections opened on demand
// (one per CALLS_PER_CONNECTION call workers at most) and closed again after `workerIdleMs` idle.

import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { CloseCallbackProto, GenericCallbackProto, koffi, LifecycleCallbackProto, virt } from './bindings.ts';
import { CallPool } from './call-pool.ts';
import {
  CloseReason,
  DEVICE_AFFECT_CONFIG,
  DEVICE_AFFECT_LIVE,
  DOMAIN_XML_INACTIVE,
  DOMAIN_XML_MIGRATABLE,
  DOMAIN_XML_SECURE,
  LIST_DOMAINS_ACTIVE,
  LIST_DOMAINS_INACTIVE,
  LifecycleEvent,
  type LifecycleEventName,
  STATS_DEFAULT,
  UNDEFINE_ALL,
} from './constants.ts';
import { LibvirtDisconnectedError, LibvirtError, LibvirtTimeoutError } from './errors.ts';
import { acquireEventLoop, releaseEventLoop } from './event-loop.ts';
import type { CallbackIds, NodeInfo } from './ops/connect.ts';
import type { DomainInfo, DomainSummary } from './ops/domain.ts';
import type { OpArgs, OpName, OpResult } from './ops/index.ts';
import {
  JOB_STATS_COMPLETED,
  type JobStats,
  MIGRATE_ABORT_ON_ERROR,
  MIGRATE_AUTO_CONVERGE,
  MIGRATE_LIVE,
  MIGRATE_NON_SHARED_INC,
  MIGRATE_PAUSED,
  MIGRATE_PEER2PEER,
  MIGRATE_PERSIST_DEST,
  MIGRATE_UNDEFINE_SOURCE,
  MIGRATE_UNSAFE,
  type MigrateParams,
} from './ops/migrate.ts';
import type { SecretSummary } from './ops/secret.ts';
import {
  type SnapshotDesc,
  SNAPSHOT_CREATE_ATOMIC,
  SNAPSHOT_CREATE_REDEFINE,
  SNAPSHOT_DELETE_CHILDREN,
  SNAPSHOT_DELETE_METADATA_ONLY,
  SNAPSHOT_REVERT_FORCE,
  SNAPSHOT_REVERT_PAUSED,
  SNAPSHOT_REVERT_RUNNING,
} from './ops/snapshot.ts';
import {
  BLOCK_COPY_REUSE_EXT,
  BLOCK_COPY_SHALLOW,
  BLOCK_COPY_TRANSIENT_JOB,
  BLOCK_JOB_ABORT_ASYNC,
  BLOCK_JOB_ABORT_PIVOT,
  type BlockJobInfo,
} from './ops/blockcopy.ts';
import type { DomainStatsRecord } from './ops/stats.ts';

export type { BlockJobInfo, DomainInfo, DomainStatsRecord, DomainSummary, NodeInfo, SecretSummary, SnapshotDesc };

/** Where a device change applies: the running domain, its persistent definition, or both. */
export interface DeviceScope {
  live: boolean;
  config: boolean;
}

function deviceFlags(scope: DeviceScope): number {
  return (scope.live ? DEVICE_AFFECT_LIVE : 0) | (scope.config ? DEVICE_AFFECT_CONFIG : 0);
}

export interface LifecycleEventInfo {
  uuid: string;
  name: string;
  event: LifecycleEventName;
  detail: number;
  at: number;
}

export interface ConnectionOptions {
  uri: string;
  /** Call worker threads at most (they start on demand; idle ones beyond the first stop). */
  workers?: number;
  /** How long an extra call worker may stay idle before it stops (default 10 s). */
  workerIdleMs?: number;
  /** How long a call waits for a busy worker before another worker starts for it (default 25 ms). */
  workerSpawnDelayMs?: number;
  keepAliveIntervalS?: number;
  keepAliveCount?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /**
   * How long opening a connection may take (default 30 s): a libvirtd that accepts and never answers
   * (stopped, wedged) would otherwise hold the caller forever. A connection that opens after its deadline
   * is closed at once.
   */
  openTimeoutMs?: number;
}

interface ConnectionEvents {
  lifecycle: [LifecycleEventInfo];
  connected: [{ reconnect: boolean }];
  disconnected: [{ reason: string }];
  error: [Error];
}

type State = 'idle' | 'connected' | 'reconnecting' | 'closed';

/** Calls in flight on one libvirt connection: one below libvirtd's default max_client_requests (5). */
export const CALLS_PER_CONNECTION = 4;

/** An extra connection for calls beyond the primary's share (no callbacks registered on it). */
interface ExtraConn {
  conn: bigint;
  inFlight: number;
  /** Lost or no longer wanted: closed once its calls have returned. */
  retired: boolean;
  idleTimer?: NodeJS.Timeout;
}

export class LibvirtConnection extends EventEmitter<ConnectionEvents> {
  readonly uri: string;
  /** Call worker threads running now. */
  get callWorkers(): number {
    return this.pool.workers;
  }
  private readonly pool: CallPool;
  private readonly opts: Required<ConnectionOptions>;
  private conn: bigint | null = null;
  /** Calls in flight on the primary connection. */
  private primaryInFlight = 0;
  private extras: ExtraConn[] = [];
  private opening: Promise<ExtraConn | undefined> | undefined;
  /** test:///<file> gives each connection its own state: such URIs use one connection. */
  private readonly shareable: boolean;
  private ids: CallbackIds | null = null;
  private state: State = 'idle';
  private readonly cbs: { lifecycle: unknown; reboot: unknown; close: unknown };
  private readonly cbAddr: { lifecycle: bigint; reboot: bigint; close: bigint };

  constructor(opts: ConnectionOptions) {
    super();
    this.opts = {
      workers: 4,
      workerIdleMs: 10_000,
      workerSpawnDelayMs: 25,
      keepAliveIntervalS: 5,
      keepAliveCount: 3,
      reconnectMinMs: 200,
      reconnectMaxMs: 5000,
      openTimeoutMs: 30_000,
      ...opts,
    };
    this.uri = opts.uri;
    this.shareable = !/^test:\/\/\/(?!default$)/.test(opts.uri);
    this.pool = new CallPool(this.opts.workers, {
      idleMs: this.opts.workerIdleMs,
      spawnDelayMs: this.opts.workerSpawnDelayMs,
    });
    this.cbs = {
      lifecycle: koffi.register((c: bigint, dom: bigint, event: number, detail: number) => {
        if (c === this.conn) this.onDomainEvent(dom, LifecycleEvent[event as keyof typeof LifecycleEvent], detail);
        return 0;
      }, koffi.pointer(LifecycleCallbackProto)),
      reboot: koffi.register((c: bigint, dom: bigint) => {
        if (c === this.conn) this.onDomainEvent(dom, 'rebooted', 0);
      }, koffi.pointer(GenericCallbackProto)),
      close: koffi.register((c: bigint, reason: number) => {
        if (c === this.conn) this.lost(CloseReason[reason as keyof typeof CloseReason] ?? `reason ${reason}`);
      }, koffi.pointer(CloseCallbackProto)),
    };
    this.cbAddr = {
      lifecycle: koffi.address(this.cbs.lifecycle) as bigint,
      reboot: koffi.address(this.cbs.reboot) as bigint,
      close: koffi.address(this.cbs.close) as bigint,
    };
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  /** Opens the connection; rejects with libvirt's own error when libvirtd cannot be reached. */
  async open(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`connection already ${this.state}`);
    acquireEventLoop();
    try {
      await this.connect();
    } catch (err) {
      // stays 'idle': open() may be called again
      await releaseEventLoop();
      throw err;
    }
    this.emit('connected', { reconnect: false });
  }

  /** Opens one libvirt connection within the open deadline. */
  private async openRaw(): Promise<bigint> {
    const opening = this.pool.call('connect.open', this.uri, this.opts.keepAliveIntervalS, this.opts.keepAliveCount);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // the worker stays in the native call until libvirtd answers; what it opens then is closed
        opening.then((c) => this.pool.call('connect.close', c)).catch(() => 0);
        reject(new LibvirtTimeoutError(this.uri, 'opening a connection', this.opts.openTimeoutMs));
      }, this.opts.openTimeoutMs);
    });
    return Promise.race([opening, late]).finally(() => clearTimeout(timer));
  }

  private async connect(): Promise<void> {
    const conn = await this.openRaw();
    try {
      this.conn = conn;
      this.primaryInFlight = 0;
      this.ids = await this.pool.call(
        'connect.registerCallbacks',
        conn,
        this.cbAddr.lifecycle,
        this.cbAddr.reboot,
        this.cbAddr.close,
      );
    } catch (err) {
      this.conn = null;
      await this.pool.call('connect.close', conn).catch(() => 0);
      throw err;
    }
    this.state = 'connected';
  }

  private onDomainEvent(dom: bigint, event: LifecycleEventName, detail: number): void {
    const buf = Buffer.alloc(37);
    if (virt.virDomainGetUUIDString(dom, buf) < 0) return;
    const info: LifecycleEventInfo = {
      uuid: buf.toString('latin1', 0, 36),
      name: virt.virDomainGetName(dom) ?? '',
      event,
      detail,
      at: Date.now(),
    };
    this.emit('lifecycle', info);
  }

  /** The connection is gone (close callback, or a call failed for that reason): reconnect with backoff. */
  private lost(reason: string): void {
    if (this.state !== 'connected') return;
    this.state = 'reconnecting';
    const old = this.conn;
    this.conn = null;
    this.ids = null;
    this.emit('disconnected', { reason });
    if (old) void this.pool.call('connect.close', old).catch(() => 0);
    for (const x of this.extras) this.retire(x);
    void this.reconnectLoop();
  }

  private async reconnectLoop(): Promise<void> {
    let delay = this.opts.reconnectMinMs;
    while (this.state === 'reconnecting') {
      await sleep(delay);
      if (this.state !== 'reconnecting') return;
      try {
        await this.connect();
        this.emit('connected', { reconnect: true });
        return;
      } catch {
        delay = Math.min(this.opts.reconnectMaxMs, delay * 2);
      }
    }
  }

  /** Libvirt connections open now (the primary and the extra ones). */
  get connections(): number {
    return (this.conn === null ? 0 : 1) + this.extras.filter((x) => !x.retired).length;
  }

  /**
   * The extra connection a call beyond the primary's share goes to: the least busy one with room, or a
   * new one while fewer than one per CALLS_PER_CONNECTION workers are open; undefined: the primary.
   */
  private async extraFor(): Promise<ExtraConn | undefined> {
    for (;;) {
      const live = this.extras.filter((x) => !x.retired);
      const free = live.filter((x) => x.inFlight < CALLS_PER_CONNECTION).sort((a, b) => a.inFlight - b.inFlight)[0];
      if (free) return free;
      if (1 + live.length >= Math.ceil(this.opts.workers / CALLS_PER_CONNECTION)) {
        // every connection is full: the least busy one (libvirtd queues the call)
        const least = live.sort((a, b) => a.inFlight - b.inFlight)[0];
        return least && least.inFlight < this.primaryInFlight ? least : undefined;
      }
      if (!this.opening) {
        this.opening = this.openRaw()
          .then((conn) => {
            const x: ExtraConn = { conn, inFlight: 0, retired: false };
            if (this.state === 'connected') this.extras.push(x);
            else void this.pool.call('connect.close', conn).catch(() => 0);
            return x;
          })
          .catch(() => undefined) // libvirtd refuses more clients: the primary takes the call
          .finally(() => {
            this.opening = undefined;
          });
      }
      const x = await this.opening;
      if (!x || this.state !== 'connected') return undefined;
    }
  }

  /** Closes an extra connection once its calls have returned. */
  private retire(x: ExtraConn): void {
    x.retired = true;
    clearTimeout(x.idleTimer);
    if (x.inFlight > 0) return;
    this.extras = this.extras.filter((e) => e !== x);
    void this.pool.call('connect.close', x.conn).catch(() => 0);
  }

  /** Runs one operation against the live connection (the primary, or an extra one when it is busy). */
  private async call<K extends OpName>(
    op: K,
    ...rest: OpArgs<K> extends [bigint, ...infer R] ? R : never
  ): Promise<OpResult<K>> {
    if (this.state !== 'connected' || this.conn === null) throw new LibvirtDisconnectedError(this.uri);
    const extra = this.primaryInFlight >= CALLS_PER_CONNECTION && this.shareable ? await this.extraFor() : undefined;
    const conn = extra ? extra.conn : this.conn;
    if (this.state !== 'connected' || conn === null) throw new LibvirtDisconnectedError(this.uri);
    if (extra) {
      extra.inFlight++;
      clearTimeout(extra.idleTimer);
    } else this.primaryInFlight++;
    try {
      return await this.pool.call(op, ...([conn, ...rest] as unknown as OpArgs<K>));
    } catch (err) {
      if (err instanceof LibvirtError && err.connectionLost) {
        const alive = await this.pool.call('connect.isAlive', conn).catch(() => false);
        if (!alive && extra) this.retire(extra);
        if (!alive && conn === this.conn) this.lost('call failed: ' + err.message);
      }
      throw err;
    } finally {
      if (extra) {
        extra.inFlight--;
        if (extra.retired) this.retire(extra);
        else if (extra.inFlight === 0) {
          extra.idleTimer = setTimeout(() => this.retire(extra), this.opts.workerIdleMs);
          extra.idleTimer.unref();
        }
      } else if (conn === this.conn) this.primaryInFlight--;
    }
  }

  // ---- host ----
  nodeInfo(): Promise<NodeInfo> {
    return this.call('connect.nodeInfo');
  }
  capabilities(): Promise<string> {
    return this.call('connect.capabilities');
  }
  hostname(): Promise<string> {
    return this.call('connect.hostname');
  }
  versions(): Promise<{ hypervisor: string; libvirt: string }> {
    return this.call('connect.versions');
  }

  // ---- domains ----
  defineDomain(xml: string): Promise<DomainSummary> {
    return this.call('domain.define', xml);
  }
  getDomain(uuid: string): Promise<DomainSummary> {
    return this.call('domain.get', uuid);
  }
  lookupDomainByName(name: string): Promise<DomainSummary> {
    return this.call('domain.lookupByName', name);
  }
  domainInfo(uuid: string): Promise<DomainInfo> {
    return this.call('domain.info', uuid);
  }
  listDomains(which: 'all' | 'active' | 'inactive' = 'all'): Promise<DomainSummary[]> {
    const flags = which === 'active' ? LIST_DOMAINS_ACTIVE : which === 'inactive' ? LIST_DOMAINS_INACTIVE : 0;
    return this.call('domain.list', flags);
  }
  domainXml(uuid: string, opts: { inactive?: boolean; secure?: boolean; migratable?: boolean } = {}): Promise<string> {
    const flags =
      (opts.inactive ? DOMAIN_XML_INACTIVE : 0) |
      (opts.secure ? DOMAIN_XML_SECURE : 0) |
      (opts.migratable ? DOMAIN_XML_MIGRATABLE : 0);
    return this.call('domain.xml', uuid, flags);
  }
  startDomain(uuid: string): Promise<DomainSummary> {
    return this.call('domain.act', uuid, 'create');
  }
  destroyDomain(uuid: string): Promise<DomainSummary> {
    return this.call('domain.act', uuid, 'destroy');
  }
  suspendDomain(uuid: string): Promise<DomainSummary> {
    return this.call('domain.act', uuid, 'suspend');
  }
  resumeDomain(uuid: string): Promise<DomainSummary> {
    return this.call('domain.act', uuid, 'resume');
  }
  rebootDomain(uuid: string): Promise<void> {
    return this.call('domain.reboot', uuid, 0);
  }
  resetDomain(uuid: string): Promise<void> {
    return this.call('domain.reset', uuid);
  }
  /** Undefines a domain and, by default, its snapshot and checkpoint metadata, managed save and NVRAM. */
  undefineDomain(uuid: string, flags = UNDEFINE_ALL): Promise<void> {
    return this.call('domain.undefine', uuid, flags);
  }
  allDomainStats(stats = STATS_DEFAULT, flags = 0): Promise<DomainStatsRecord[]> {
    return this.call('stats.all', stats, flags);
  }

  // ---- devices (hot-plug) ----
  /** Attaches a device; with `live` it must succeed in the running domain before the definition changes. */
  attachDevice(uuid: string, xml: string, scope: DeviceScope): Promise<void> {
    return this.call('device.attach', uuid, xml, deviceFlags(scope));
  }
  detachDevice(uuid: string, xml: string, scope: DeviceScope): Promise<void> {
    return this.call('device.detach', uuid, xml, deviceFlags(scope));
  }
  /** Asks for the removal of the device with this user alias; a live removal completes asynchronously. */
  detachDeviceAlias(uuid: string, alias: string, scope: DeviceScope): Promise<void> {
    return this.call('device.detachAlias', uuid, alias, deviceFlags(scope));
  }

  // ---- secrets ----
  /** Defines a secret from XML and sets its value (the secret is undefined again if that fails). */
  defineSecret(xml: string, value: string): Promise<SecretSummary> {
    return this.call('secret.define', xml, value);
  }
  getSecret(uuid: string): Promise<SecretSummary | null> {
    return this.call('secret.getByUuid', uuid);
  }
  getSecretByUsage(usageType: number, usageId: string): Promise<SecretSummary | null> {
    return this.call('secret.getByUsage', usageType, usageId);
  }
  /** Undefines a secret; resolves false when there was none with this UUID. */
  undefineSecret(uuid: string): Promise<boolean> {
    return this.call('secret.undefine', uuid);
  }
  listSecrets(): Promise<SecretSummary[]> {
    return this.call('secret.list');
  }

  // ---- snapshots ----
  /** Creates a snapshot from `<domainsnapshot>` XML; `redefine` restores metadata of an existing one. */
  createSnapshot(uuid: string, xml: string, opts: { redefine?: boolean } = {}): Promise<SnapshotDesc> {
    const flags = opts.redefine ? SNAPSHOT_CREATE_REDEFINE : SNAPSHOT_CREATE_ATOMIC;
    return this.call('snapshot.create', uuid, xml, flags);
  }
  listSnapshots(uuid: string): Promise<SnapshotDesc[]> {
    return this.call('snapshot.list', uuid, 0);
  }
  getSnapshot(uuid: string, name: string): Promise<SnapshotDesc> {
    return this.call('snapshot.get', uuid, name);
  }
  /** Reverts disks, definition and (for a running snapshot) memory; `running`/`paused` force the end state. */
  revertToSnapshot(
    uuid: string,
    name: string,
    opts: { running?: boolean; paused?: boolean; force?: boolean } = {},
  ): Promise<void> {
    const flags =
      (opts.running ? SNAPSHOT_REVERT_RUNNING : 0) |
      (opts.paused ? SNAPSHOT_REVERT_PAUSED : 0) |
      (opts.force ? SNAPSHOT_REVERT_FORCE : 0);
    return this.call('snapshot.revert', uuid, name, flags);
  }
  deleteSnapshot(uuid: string, name: string, opts: { children?: boolean; metadataOnly?: boolean } = {}): Promise<void> {
    const flags =
      (opts.children ? SNAPSHOT_DELETE_CHILDREN : 0) | (opts.metadataOnly ? SNAPSHOT_DELETE_METADATA_ONLY : 0);
    return this.call('snapshot.remove', uuid, name, flags);
  }

  // ---- live block copy ----
  /**
   * Starts copying a running domain's disk (target name, e.g. `vda`) to the destination described by
   * `<disk>` XML. A full copy unless `shallow`; always a transient job (persistent domains need it).
   */
  blockCopy(
    uuid: string,
    disk: string,
    destXml: string,
    opts: { shallow?: boolean; reuseExisting?: boolean } = {},
  ): Promise<void> {
    const flags =
      BLOCK_COPY_TRANSIENT_JOB |
      (opts.shallow ? BLOCK_COPY_SHALLOW : 0) |
      (opts.reuseExisting ? BLOCK_COPY_REUSE_EXT : 0);
    return this.call('blockcopy.start', uuid, disk, destXml, flags);
  }
  /** The disk's block job (progress in `cur`/`end`), or null when there is none. */
  blockJobInfo(uuid: string, disk: string): Promise<BlockJobInfo | null> {
    return this.call('blockcopy.info', uuid, disk);
  }
  /**
   * Ends the disk's block job. For a copy that is in sync: with `pivot` the domain switches to the copy;
   * without, the copy is left as a consistent point-in-time image and the domain keeps its disk.
   */
  blockJobAbort(uuid: string, disk: string, opts: { pivot?: boolean; async?: boolean } = {}): Promise<void> {
    const flags = (opts.pivot ? BLOCK_JOB_ABORT_PIVOT : 0) | (opts.async ? BLOCK_JOB_ABORT_ASYNC : 0);
    return this.call('blockcopy.abort', uuid, disk, flags);
  }

  // ---- migration ----
  /**
   * Migrates a domain peer to peer to the libvirtd at `dconnuri` (PERSIST_DEST | UNDEFINE_SOURCE: on success
   * the domain exists on the destination only; on failure libvirt leaves it running here). `live`: the guest
   * runs during the copy; `paused`: it stays paused on the destination. `autoConverge` throttles a guest
   * whose memory is dirtied faster than it can be sent. `sharedStorageDeclared`: the disks not copied are
   * on storage the caller knows every host shares, whatever filesystem libvirt sees (VIR_MIGRATE_UNSAFE,
   * as OpenNebula's `--unsafe`). Resolves when the job ends.
   */
  migrate(
    uuid: string,
    dconnuri: string,
    params: MigrateParams,
    opts: { live?: boolean; paused?: boolean; autoConverge?: boolean; sharedStorageDeclared?: boolean } = {},
  ): Promise<void> {
    const flags =
      (opts.sharedStorageDeclared ? MIGRATE_UNSAFE : 0) |
      MIGRATE_PEER2PEER |
      MIGRATE_PERSIST_DEST |
      MIGRATE_UNDEFINE_SOURCE |
      MIGRATE_ABORT_ON_ERROR |
      (opts.live ? MIGRATE_LIVE : 0) |
      (opts.paused ? MIGRATE_PAUSED : 0) |
      (opts.autoConverge ? MIGRATE_AUTO_CONVERGE : 0) |
      (params.disks?.length ? MIGRATE_NON_SHARED_INC : 0);
    return this.call('migrate.toUri', uuid, dconnuri, params, flags);
  }
  setMigrationMaxDowntime(uuid: string, ms: number): Promise<void> {
    return this.call('migrate.setMaxDowntime', uuid, ms);
  }
  /** The domain's running job, or (`completed`) its last finished one: libvirt's typed statistics. */
  jobStats(uuid: string, completed = false): Promise<JobStats> {
    return this.call('migrate.jobStats', uuid, completed ? JOB_STATS_COMPLETED : 0);
  }
  /** Cancels the domain's running job (a migration: the domain keeps running here). */
  abortJob(uuid: string): Promise<void> {
    return this.call('migrate.abortJob', uuid);
  }
  startDomainPaused(uuid: string): Promise<void> {
    return this.call('migrate.startPaused', uuid);
  }

  /** Asks the guest to shut down (ACPI); returns at once. Waiting and escalation are the caller's policy. */
  shutdownDomain(uuid: string): Promise<DomainSummary> {
    return this.call('domain.act', uuid, 'shutdown');
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const conn = this.conn;
    const ids = this.ids;
    this.state = 'closed';
    this.conn = null;
    for (const x of this.extras) this.retire(x);
    if (conn !== null) {
      if (ids) await this.pool.call('connect.deregisterCallbacks', conn, ids, this.cbAddr.close).catch(() => undefined);
      await this.pool.call('connect.close', conn).catch(() => 0);
    }
    await this.pool.close();
    await releaseEventLoop();
    for (const cb of Object.values(this.cbs)) koffi.unregister(cb as bigint);
  }
}
