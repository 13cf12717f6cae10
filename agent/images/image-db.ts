// The image tables of the agent database: cached images (content-addressed by the sha256 of the
// file kept), their users (instance disks pin their base so that it is never evicted) and the audit
// log of policy refusals. Synchronous (better-sqlite3), so that a check and a pin are atomic.

import { type Db, migrate } from '../../common/sqlite.ts';
import type { ImageFormat, ImageView } from '../../protocol/image.ts';

const MIGRATIONS = [
  `CREATE TABLE images (
     sha256 TEXT PRIMARY KEY,
     format TEXT NOT NULL CHECK (format IN ('qcow2', 'raw')),
     virtual_size INTEGER NOT NULL,
     size_bytes INTEGER NOT NULL,
     source_url TEXT,
     source_sha256 TEXT,
     endorser TEXT,
     name TEXT,
     origin TEXT NOT NULL CHECK (origin IN ('download', 'save-as', 'import')),
     added_at INTEGER NOT NULL,
     last_used_at INTEGER NOT NULL
   );
   CREATE INDEX images_source_sha256 ON images (source_sha256);
   CREATE TABLE image_users (
     sha256 TEXT NOT NULL REFERENCES images (sha256) ON DELETE RESTRICT,
     owner TEXT NOT NULL,
     since INTEGER NOT NULL,
     PRIMARY KEY (sha256, owner)
   );
   CREATE TABLE image_audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     actor TEXT NOT NULL,
     vm_id TEXT,
     stage TEXT NOT NULL,
     sha256 TEXT NOT NULL,
     url TEXT,
     endorser TEXT,
     decision TEXT NOT NULL,
     reason TEXT NOT NULL
   )`,
];

/** A cached image as the database keeps it: the published view without its live count of users. */
export type ImageRecord = Omit<ImageView, 'users'>;

export interface AuditRecord {
  id: number;
  at: number;
  actor: string;
  vmId: string | null;
  stage: string;
  sha256: string;
  url: string | null;
  endorser: string | null;
  decision: 'deny' | 'allow';
  reason: string;
}

interface Row {
  sha256: string;
  format: ImageFormat;
  virtual_size: number;
  size_bytes: number;
  source_url: string | null;
  source_sha256: string | null;
  endorser: string | null;
  name: string | null;
  origin: ImageView['origin'];
  added_at: number;
  last_used_at: number;
}

const toRecord = (r: Row): ImageRecord => ({
  sha256: r.sha256,
  format: r.format,
  virtualSize: r.virtual_size,
  sizeBytes: r.size_bytes,
  sourceUrl: r.source_url,
  sourceSha256: r.source_sha256,
  endorser: r.endorser,
  name: r.name,
  origin: r.origin,
  addedAt: r.added_at,
  lastUsedAt: r.last_used_at,
});

export class ImageDb {
  constructor(readonly db: Db) {
    migrate(db, 'images', MIGRATIONS);
  }

  /** The image whose file has this sha256, or that was published with it (before decompression). */
  find(sha256: string): ImageRecord | undefined {
    const r = this.db
      .prepare('SELECT * FROM images WHERE sha256 = ? OR source_sha256 = ? ORDER BY sha256 = ? DESC LIMIT 1')
      .get(sha256, sha256, sha256) as Row | undefined;
    return r && toRecord(r);
  }

  list(): ImageRecord[] {
    return (this.db.prepare('SELECT * FROM images ORDER BY last_used_at DESC').all() as Row[]).map(toRecord);
  }

  insert(r: Omit<ImageRecord, 'addedAt' | 'lastUsedAt'>): ImageRecord {
    const now = Date.now();
    this.db
      .prepare(
        `INSERT INTO images (sha256, format, virtual_size, size_bytes, source_url, source_sha256, endorser, name, origin,
           added_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (sha256) DO UPDATE SET last_used_at = excluded.last_used_at,
           source_url = COALESCE(images.source_url, excluded.source_url),
           source_sha256 = COALESCE(images.source_sha256, excluded.source_sha256),
           endorser = COALESCE(images.endorser, excluded.endorser), name = COALESCE(images.name, excluded.name)`,
      )
      .run(
        r.sha256,
        r.format,
        r.virtualSize,
        r.sizeBytes,
        r.sourceUrl,
        r.sourceSha256,
        r.endorser,
        r.name,
        r.origin,
        now,
        now,
      );
    return this.find(r.sha256)!;
  }

  touch(sha256: string): void {
    // strictly increasing, so that LRU order is well defined even within one millisecond
    this.db
      .prepare(
        'UPDATE images SET last_used_at = MAX(?, (SELECT COALESCE(MAX(last_used_at), 0) + 1 FROM images)) WHERE sha256 = ?',
      )
      .run(Date.now(), sha256);
  }

  delete(sha256: string): void {
    this.db.prepare('DELETE FROM images WHERE sha256 = ?').run(sha256);
  }

  addUser(sha256: string, owner: string): void {
    this.db
      .prepare('INSERT OR IGNORE INTO image_users (sha256, owner, since) VALUES (?, ?, ?)')
      .run(sha256, owner, Date.now());
  }

  /** Removes the uses recorded under `owner` exactly, or under every owner starting with `owner/`. */
  removeUsers(owner: string): number {
    return this.db.prepare("DELETE FROM image_users WHERE owner = ? OR owner LIKE ? || '/%'").run(owner, owner).changes;
  }

  users(sha256: string): string[] {
    return (
      this.db.prepare('SELECT owner FROM image_users WHERE sha256 = ? ORDER BY owner').all(sha256) as {
        owner: string;
      }[]
    ).map((r) => r.owner);
  }

  userCounts(): Map<string, number> {
    const rows = this.db.prepare('SELECT sha256, COUNT(*) AS n FROM image_users GROUP BY sha256').all() as {
      sha256: string;
      n: number;
    }[];
    return new Map(rows.map((r) => [r.sha256, r.n]));
  }

  /** Unused images, least recently used first: the eviction order. */
  evictable(): ImageRecord[] {
    return (
      this.db
        .prepare(
          `SELECT * FROM images i WHERE NOT EXISTS (SELECT 1 FROM image_users u WHERE u.sha256 = i.sha256)
           ORDER BY last_used_at ASC`,
        )
        .all() as Row[]
    ).map(toRecord);
  }

  totals(): { bytes: number; images: number; inUseBytes: number; inUseImages: number } {
    const all = this.db.prepare('SELECT COALESCE(SUM(size_bytes), 0) AS b, COUNT(*) AS n FROM images').get() as {
      b: number;
      n: number;
    };
    const used = this.db
      .prepare(
        `SELECT COALESCE(SUM(size_bytes), 0) AS b, COUNT(*) AS n FROM images i
         WHERE EXISTS (SELECT 1 FROM image_users u WHERE u.sha256 = i.sha256)`,
      )
      .get() as { b: number; n: number };
    return { bytes: all.b, images: all.n, inUseBytes: used.b, inUseImages: used.n };
  }

  audit(a: Omit<AuditRecord, 'id' | 'at'>): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO image_audit (at, actor, vm_id, stage, sha256, url, endorser, decision, reason)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(Date.now(), a.actor, a.vmId, a.stage, a.sha256, a.url, a.endorser, a.decision, a.reason).lastInsertRowid,
    );
  }

  auditLog(limit = 100, sha256?: string): AuditRecord[] {
    const rows = (
      sha256
        ? this.db.prepare('SELECT * FROM image_audit WHERE sha256 = ? ORDER BY id DESC LIMIT ?').all(sha256, limit)
        : this.db.prepare('SELECT * FROM image_audit ORDER BY id DESC LIMIT ?').all(limit)
    ) as (Omit<AuditRecord, 'vmId'> & { vm_id: string | null })[];
    return rows.map(({ vm_id, ...r }) => ({ ...r, vmId: vm_id }));
  }
}
