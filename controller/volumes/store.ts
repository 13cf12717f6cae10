// The volume records in the controller database: volumes (with their backend data: backing path,
// target name, CHAP account), attachments (one row per VM a volume is attached to) and per-owner quota
// overrides. Checks that must not race (quota, exclusive use, names) run inside one transaction with the
// write they guard.

import { type Db, migrate } from '../../common/sqlite.ts';
import type { VolumeBackendName, VolumeState } from '../../protocol/volume.ts';

export type AttachmentState = 'attaching' | 'attached' | 'detaching';

export interface VolumeRecord {
  id: string;
  name: string;
  ownerId: string;
  sizeGiB: number;
  backend: VolumeBackendName;
  format: 'raw' | 'qcow2';
  shareable: boolean;
  readonly: boolean;
  tags: string[];
  state: VolumeState;
  reason: string;
  /** Backing file or logical volume path. */
  location: string;
  iqn: string | null;
  chapUser: string | null;
  chapSecret: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface AttachmentRecord {
  volumeId: string;
  vmId: string;
  hostId: string;
  initiator: string;
  state: AttachmentState;
  device: string;
  mode: string;
  createdAt: number;
}

const MIGRATIONS = [
  `CREATE TABLE volumes (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     owner_id TEXT NOT NULL,
     size_gib INTEGER NOT NULL CHECK (size_gib > 0),
     backend TEXT NOT NULL CHECK (backend IN ('iscsi', 'file')),
     format TEXT NOT NULL CHECK (format IN ('raw', 'qcow2')),
     shareable INTEGER NOT NULL DEFAULT 0,
     readonly INTEGER NOT NULL DEFAULT 0,
     tags TEXT NOT NULL DEFAULT '[]',
     state TEXT NOT NULL,
     reason TEXT NOT NULL DEFAULT '',
     location TEXT NOT NULL DEFAULT '',
     iqn TEXT UNIQUE,
     chap_user TEXT,
     chap_secret TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     UNIQUE (owner_id, name)
   );
   CREATE TABLE volume_attachments (
     volume_id TEXT NOT NULL REFERENCES volumes (id) ON DELETE CASCADE,
     vm_id TEXT NOT NULL,
     host_id TEXT NOT NULL,
     initiator TEXT NOT NULL DEFAULT '',
     state TEXT NOT NULL CHECK (state IN ('attaching', 'attached', 'detaching')),
     device TEXT NOT NULL DEFAULT '',
     mode TEXT NOT NULL DEFAULT '',
     created_at INTEGER NOT NULL,
     PRIMARY KEY (volume_id, vm_id)
   );
   CREATE INDEX volume_attachments_vm ON volume_attachments (vm_id);
   CREATE TABLE volume_quotas (
     owner_id TEXT PRIMARY KEY,
     max_volumes INTEGER NOT NULL,
     max_gib INTEGER NOT NULL
   );`,
];

interface VolumeRow {
  id: string;
  name: string;
  owner_id: string;
  size_gib: number;
  backend: VolumeBackendName;
  format: 'raw' | 'qcow2';
  shareable: number;
  readonly: number;
  tags: string;
  state: VolumeState;
  reason: string;
  location: string;
  iqn: string | null;
  chap_user: string | null;
  chap_secret: string | null;
  created_at: number;
  updated_at: number;
}

interface AttachmentRow {
  volume_id: string;
  vm_id: string;
  host_id: string;
  initiator: string;
  state: AttachmentState;
  device: string;
  mode: string;
  created_at: number;
}

const toVolume = (r: VolumeRow): VolumeRecord => ({
  id: r.id,
  name: r.name,
  ownerId: r.owner_id,
  sizeGiB: r.size_gib,
  backend: r.backend,
  format: r.format,
  shareable: r.shareable === 1,
  readonly: r.readonly === 1,
  tags: JSON.parse(r.tags) as string[],
  state: r.state,
  reason: r.reason,
  location: r.location,
  iqn: r.iqn,
  chapUser: r.chap_user,
  chapSecret: r.chap_secret,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toAttachment = (r: AttachmentRow): AttachmentRecord => ({
  volumeId: r.volume_id,
  vmId: r.vm_id,
  hostId: r.host_id,
  initiator: r.initiator,
  state: r.state,
  device: r.device,
  mode: r.mode,
  createdAt: r.created_at,
});

export type NewVolume = Omit<VolumeRecord, 'createdAt' | 'updatedAt' | 'reason'>;

export class VolumeStore {
  constructor(readonly db: Db) {
    migrate(db, 'volumes', MIGRATIONS);
  }

  /** Runs `fn` in one transaction (better-sqlite3 transactions are synchronous, so nothing interleaves). */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  insert(v: NewVolume): VolumeRecord {
    const now = Date.now();
    this.db
      .prepare(
        `INSERT INTO volumes (id, name, owner_id, size_gib, backend, format, shareable, readonly, tags, state,
           location, iqn, chap_user, chap_secret, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        v.id,
        v.name,
        v.ownerId,
        v.sizeGiB,
        v.backend,
        v.format,
        v.shareable ? 1 : 0,
        v.readonly ? 1 : 0,
        JSON.stringify(v.tags),
        v.state,
        v.location,
        v.iqn,
        v.chapUser,
        v.chapSecret,
        now,
        now,
      );
    return this.get(v.id)!;
  }

  get(id: string): VolumeRecord | undefined {
    const r = this.db.prepare('SELECT * FROM volumes WHERE id = ?').get(id) as VolumeRow | undefined;
    return r && toVolume(r);
  }

  byName(ownerId: string, name: string): VolumeRecord | undefined {
    const r = this.db.prepare('SELECT * FROM volumes WHERE owner_id = ? AND name = ?').get(ownerId, name) as
      | VolumeRow
      | undefined;
    return r && toVolume(r);
  }

  list(ownerId?: string): VolumeRecord[] {
    const rows = (
      ownerId === undefined
        ? this.db.prepare('SELECT * FROM volumes ORDER BY created_at, id').all()
        : this.db.prepare('SELECT * FROM volumes WHERE owner_id = ? ORDER BY created_at, id').all(ownerId)
    ) as VolumeRow[];
    return rows.map(toVolume);
  }

  setState(id: string, state: VolumeState, reason = ''): void {
    this.db
      .prepare('UPDATE volumes SET state = ?, reason = ?, updated_at = ? WHERE id = ?')
      .run(state, reason, Date.now(), id);
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM volumes WHERE id = ?').run(id);
  }

  usage(ownerId: string): { volumes: number; gib: number } {
    const r = this.db
      .prepare('SELECT COUNT(*) AS n, COALESCE(SUM(size_gib), 0) AS gib FROM volumes WHERE owner_id = ?')
      .get(ownerId) as { n: number; gib: number };
    return { volumes: r.n, gib: r.gib };
  }

  quotaOverride(ownerId: string): { volumes: number; gib: number } | undefined {
    const r = this.db.prepare('SELECT max_volumes, max_gib FROM volume_quotas WHERE owner_id = ?').get(ownerId) as
      | { max_volumes: number; max_gib: number }
      | undefined;
    return r && { volumes: r.max_volumes, gib: r.max_gib };
  }

  setQuotaOverride(ownerId: string, q: { volumes: number; gib: number }): void {
    this.db
      .prepare(
        `INSERT INTO volume_quotas (owner_id, max_volumes, max_gib) VALUES (?, ?, ?)
         ON CONFLICT (owner_id) DO UPDATE SET max_volumes = excluded.max_volumes, max_gib = excluded.max_gib`,
      )
      .run(ownerId, q.volumes, q.gib);
  }

  // ---- attachments ----

  attachments(volumeId: string): AttachmentRecord[] {
    return (
      this.db
        .prepare('SELECT * FROM volume_attachments WHERE volume_id = ? ORDER BY created_at, vm_id')
        .all(volumeId) as AttachmentRow[]
    ).map(toAttachment);
  }

  attachmentsOfVm(vmId: string): AttachmentRecord[] {
    return (
      this.db
        .prepare('SELECT * FROM volume_attachments WHERE vm_id = ? ORDER BY created_at, volume_id')
        .all(vmId) as AttachmentRow[]
    ).map(toAttachment);
  }

  insertAttachment(a: Omit<AttachmentRecord, 'createdAt' | 'device' | 'mode'>): void {
    this.db
      .prepare(
        'INSERT INTO volume_attachments (volume_id, vm_id, host_id, initiator, state, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(a.volumeId, a.vmId, a.hostId, a.initiator, a.state, Date.now());
  }

  updateAttachment(
    volumeId: string,
    vmId: string,
    set: { state: AttachmentState; device?: string; mode?: string },
  ): void {
    this.db
      .prepare(
        `UPDATE volume_attachments SET state = ?, device = COALESCE(?, device), mode = COALESCE(?, mode)
         WHERE volume_id = ? AND vm_id = ?`,
      )
      .run(set.state, set.device ?? null, set.mode ?? null, volumeId, vmId);
  }

  /** The VM of this attachment now runs on `hostId` (migrated), whose initiator is `initiator`. */
  moveAttachment(volumeId: string, vmId: string, hostId: string, initiator: string): void {
    this.db
      .prepare('UPDATE volume_attachments SET host_id = ?, initiator = ? WHERE volume_id = ? AND vm_id = ?')
      .run(hostId, initiator, volumeId, vmId);
  }

  deleteAttachment(volumeId: string, vmId: string): void {
    this.db.prepare('DELETE FROM volume_attachments WHERE volume_id = ? AND vm_id = ?').run(volumeId, vmId);
  }
}
