// The controller's VM records in SQLite: what each VM is (owner, size, image, placement constraints),
// where it is (host), its state with the reason, and the history of its transitions. Quota checks
// and inserts happen in one transaction, so concurrent creations cannot overrun a quota.

import { randomUUID } from 'node:crypto';
import { NotFoundError, StratusError } from '../../common/errors.ts';
import type { NicFirewall } from '../../protocol/network.ts';
import { type Db, migrate } from '../../common/sqlite.ts';
import type Database from 'better-sqlite3';
import type { Quota } from '../auth/users.ts';
import { HOLDS_CAPACITY, InvalidTransitionError, canTransition, type VmState } from './states.ts';

export interface VmRecord {
  id: string;
  name: string;
  ownerId: string;
  ownerName: string;
  type: string;
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  /** Blank disks deleted with the VM (`--volatile-disk`), GiB each, in order. */
  volatileGiB: number[];
  /** The swap disk of the VM's type at creation, MiB; 0: none. */
  swapMiB: number;
  imageId: string;
  state: VmState;
  reason: string;
  hostId: string | null;
  attempts: number;
  /** Hosts the scheduler avoids for this VM now (a deploy failed there and the exclusion has not expired). */
  excludedHosts: string[];
  /** Every exclusion with when it expires (ms since the epoch). */
  exclusions: Record<string, number>;
  placement: { cluster?: string; requiredFeatures?: string[]; antiAffinityGroup?: string };
  /** The networks the VM is plugged into, in NIC order, with their firewall settings. */
  nics: { network: string; firewall?: NicFirewall }[];
  /** Volumes attached at deploy time (ids), in order. */
  volumes: string[];
  /** What the agent reported last (libvirt power state) and extra data (addresses, ...). */
  observed: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export interface VmEvent {
  at: number;
  from: VmState | null;
  to: VmState;
  reason: string;
  hostId: string | null;
}

export class QuotaExceededError extends StratusError {
  constructor(what: string, used: number, asked: number, limit: number) {
    super('STRATUS_ERR_QUOTA', `quota exceeded: ${what} ${used} in use + ${asked} asked > ${limit} allowed`, {
      status: 403,
      details: { what, used, asked, limit },
    });
  }
}

const MIGRATIONS = [
  `CREATE TABLE vms (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     owner_id TEXT NOT NULL,
     owner_name TEXT NOT NULL,
     type TEXT NOT NULL,
     vcpus INTEGER NOT NULL,
     memory_mib INTEGER NOT NULL,
     disk_gib INTEGER NOT NULL,
     image_id TEXT NOT NULL,
     state TEXT NOT NULL,
     reason TEXT NOT NULL DEFAULT '',
     host_id TEXT,
     attempts INTEGER NOT NULL DEFAULT 0,
     excluded_hosts TEXT NOT NULL DEFAULT '[]',
     placement TEXT NOT NULL DEFAULT '{}',
     observed TEXT NOT NULL DEFAULT '{}',
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX vms_owner ON vms (owner_id, state);
   CREATE INDEX vms_host ON vms (host_id, state);
   CREATE INDEX vms_state ON vms (state);
   CREATE TABLE vm_events (
     vm_id TEXT NOT NULL,
     at INTEGER NOT NULL,
     from_state TEXT,
     to_state TEXT NOT NULL,
     reason TEXT NOT NULL,
     host_id TEXT
   );
   CREATE INDEX vm_events_vm ON vm_events (vm_id, at);`,
  `ALTER TABLE vms ADD COLUMN nics TEXT NOT NULL DEFAULT '[]'`,
  `ALTER TABLE vms ADD COLUMN volumes TEXT NOT NULL DEFAULT '[]'`,
  `ALTER TABLE vms ADD COLUMN volatile_gib TEXT NOT NULL DEFAULT '[]';
   ALTER TABLE vms ADD COLUMN swap_mib INTEGER NOT NULL DEFAULT 0`,
];

interface Row {
  id: string;
  name: string;
  owner_id: string;
  owner_name: string;
  type: string;
  vcpus: number;
  memory_mib: number;
  disk_gib: number;
  volatile_gib: string;
  swap_mib: number;
  image_id: string;
  state: VmState;
  reason: string;
  host_id: string | null;
  attempts: number;
  excluded_hosts: string;
  placement: string;
  nics: string;
  volumes: string;
  observed: string;
  created_at: number;
  updated_at: number;
}

const toRecord = (r: Row): VmRecord => ({
  id: r.id,
  name: r.name,
  ownerId: r.owner_id,
  ownerName: r.owner_name,
  type: r.type,
  vcpus: r.vcpus,
  memoryMiB: r.memory_mib,
  diskGiB: r.disk_gib,
  volatileGiB: JSON.parse(r.volatile_gib) as number[],
  swapMiB: r.swap_mib,
  imageId: r.image_id,
  state: r.state,
  reason: r.reason,
  hostId: r.host_id,
  attempts: r.attempts,
  ...exclusionsOf(r.excluded_hosts),
  placement: JSON.parse(r.placement) as VmRecord['placement'],
  nics: JSON.parse(r.nics) as VmRecord['nics'],
  volumes: JSON.parse(r.volumes) as string[],
  observed: JSON.parse(r.observed) as Record<string, unknown>,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Exclusions are stored as {host: until}; older databases hold a plain list (taken as expired). */
function exclusionsOf(json: string, now = Date.now()): Pick<VmRecord, 'excludedHosts' | 'exclusions'> {
  const raw = JSON.parse(json) as string[] | Record<string, number>;
  const exclusions: Record<string, number> = Array.isArray(raw) ? Object.fromEntries(raw.map((h) => [h, 0])) : raw;
  return { exclusions, excludedHosts: Object.keys(exclusions).filter((h) => exclusions[h]! > now) };
}

const capacityStates = [...HOLDS_CAPACITY, 'pending', 'lost'].map((s) => `'${s}'`).join(',');

export type NewVm = Partial<Pick<VmRecord, 'volatileGiB' | 'swapMiB'>> &
  Pick<
    VmRecord,
    | 'name'
    | 'ownerId'
    | 'ownerName'
    | 'type'
    | 'vcpus'
    | 'memoryMiB'
    | 'diskGiB'
    | 'imageId'
    | 'placement'
    | 'nics'
    | 'volumes'
  >;

export class VmStore {
  /** Statements by SQL, prepared once (a prepare per call cost more than the query: the reconciler
   * looks up every reported VM). list() builds its SQL from a fixed set of filters. */
  private readonly statements = new Map<string, Database.Statement<unknown[]>>();

  constructor(readonly db: Db) {
    migrate(db, 'vms', MIGRATIONS);
  }

  private prepared(sql: string): Database.Statement<unknown[]> {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare<unknown[]>(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  /** Inserts `count` pending VMs if the owner's quota allows all of them, atomically. */
  createMany(vm: NewVm, count: number, quota: Quota): VmRecord[] {
    return this.db.transaction(() => {
      const used = this.db
        .prepare(
          `SELECT COUNT(*) AS n, COALESCE(SUM(vcpus), 0) AS c, COALESCE(SUM(memory_mib), 0) AS m
           FROM vms WHERE owner_id = ? AND state IN (${capacityStates})`,
        )
        .get(vm.ownerId) as { n: number; c: number; m: number };
      if (used.n + count > quota.vms) throw new QuotaExceededError('VMs', used.n, count, quota.vms);
      if (used.c + count * vm.vcpus > quota.vcpus)
        throw new QuotaExceededError('vCPUs', used.c, count * vm.vcpus, quota.vcpus);
      if (used.m + count * vm.memoryMiB > quota.memoryMiB) {
        throw new QuotaExceededError('MiB of memory', used.m, count * vm.memoryMiB, quota.memoryMiB);
      }
      const now = Date.now();
      const ins = this.db.prepare(
        `INSERT INTO vms (id, name, owner_id, owner_name, type, vcpus, memory_mib, disk_gib, volatile_gib, swap_mib,
                          image_id, state, reason, placement, nics, volumes, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 'waiting for the scheduler', ?, ?, ?, ?, ?)`,
      );
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const id = randomUUID();
        const name = count > 1 ? `${vm.name}-${i + 1}` : vm.name;
        ins.run(
          id,
          name,
          vm.ownerId,
          vm.ownerName,
          vm.type,
          vm.vcpus,
          vm.memoryMiB,
          vm.diskGiB,
          JSON.stringify(vm.volatileGiB ?? []),
          vm.swapMiB ?? 0,
          vm.imageId,
          JSON.stringify(vm.placement),
          JSON.stringify(vm.nics),
          JSON.stringify(vm.volumes),
          now,
          now,
        );
        this.event(id, null, 'pending', 'created', null, now);
        ids.push(id);
      }
      return ids.map((id) => this.get(id));
    })();
  }

  get(id: string): VmRecord {
    const r = this.prepared('SELECT * FROM vms WHERE id = ?').get(id) as Row | undefined;
    if (!r) throw new NotFoundError('VM', id);
    return toRecord(r);
  }

  find(id: string): VmRecord | undefined {
    const r = this.prepared('SELECT * FROM vms WHERE id = ?').get(id) as Row | undefined;
    return r && toRecord(r);
  }

  list(
    filter: { ownerId?: string; states?: readonly VmState[]; hostId?: string; includeDeleted?: boolean } = {},
  ): VmRecord[] {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (clause: string, ...values: unknown[]) => {
      where.push(clause);
      args.push(...values);
    };
    if (filter.ownerId) add('owner_id = ?', filter.ownerId);
    if (filter.hostId) add('host_id = ?', filter.hostId);
    if (filter.states) add(`state IN (${filter.states.map(() => '?').join(',')})`, ...filter.states);
    else if (!filter.includeDeleted) add("state != 'deleted'");
    const sql = `SELECT * FROM vms ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, rowid`;
    return (this.prepared(sql).all(...args) as Row[]).map(toRecord);
  }

  /** Moves a VM to `to` (checked against the state machine) and records why. */
  transition(
    id: string,
    to: VmState,
    reason: string,
    changes: { hostId?: string | null; attempts?: number; exclusions?: Record<string, number> } = {},
  ): VmRecord {
    return this.db.transaction(() => {
      const vm = this.get(id);
      if (!canTransition(vm.state, to)) throw new InvalidTransitionError(id, vm.state, to);
      const now = Date.now();
      const hostId = changes.hostId !== undefined ? changes.hostId : vm.hostId;
      this.db
        .prepare(
          'UPDATE vms SET state = ?, reason = ?, host_id = ?, attempts = ?, excluded_hosts = ?, updated_at = ? WHERE id = ?',
        )
        .run(
          to,
          reason,
          hostId,
          changes.attempts ?? vm.attempts,
          JSON.stringify(changes.exclusions ?? vm.exclusions),
          now,
          id,
        );
      if (vm.state !== to || vm.reason !== reason) this.event(id, vm.state, to, reason, hostId, now);
      return this.get(id);
    })();
  }

  /** Updates the reason of a pending VM without a transition (the scheduler's explanation). */
  setReason(id: string, reason: string): void {
    this.prepared('UPDATE vms SET reason = ? WHERE id = ? AND reason != ?').run(reason, id, reason);
  }

  setObserved(id: string, observed: Record<string, unknown>): void {
    this.db
      .prepare('UPDATE vms SET observed = ?, updated_at = ? WHERE id = ?')
      .run(JSON.stringify(observed), Date.now(), id);
  }

  events(id: string): VmEvent[] {
    return (
      this.db
        .prepare('SELECT at, from_state, to_state, reason, host_id FROM vm_events WHERE vm_id = ? ORDER BY at, rowid')
        .all(id) as {
        at: number;
        from_state: VmState | null;
        to_state: VmState;
        reason: string;
        host_id: string | null;
      }[]
    ).map((e) => ({ at: e.at, from: e.from_state, to: e.to_state, reason: e.reason, hostId: e.host_id }));
  }

  private event(
    id: string,
    from: VmState | null,
    to: VmState,
    reason: string,
    hostId: string | null,
    at: number,
  ): void {
    this.db
      .prepare('INSERT INTO vm_events (vm_id, at, from_state, to_state, reason, host_id) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, at, from, to, reason, hostId);
  }
}
