// Users' SSH public keys in SQLite (feature `keys`): unique names per user, at most one default per
// user (the first key added is the default; deleting the default promotes the oldest remaining key).
// Every read and write is scoped to one owner, so another user's key is simply not found.

import { ConflictError, NotFoundError, ValidationError } from '../../common/errors.ts';
import { parseSshPublicKey } from '../../common/ssh-public-key.ts';
import { type Db, migrate } from '../../common/sqlite.ts';
import type { SshKeyView } from '../../protocol/keys.ts';

const MIGRATIONS = [
  `CREATE TABLE ssh_keys (
     owner_id TEXT NOT NULL,
     name TEXT NOT NULL,
     type TEXT NOT NULL,
     bits INTEGER NOT NULL,
     fingerprint TEXT NOT NULL,
     comment TEXT NOT NULL,
     public_key TEXT NOT NULL,
     is_default INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (owner_id, name)
   );
   CREATE UNIQUE INDEX ssh_keys_default ON ssh_keys (owner_id) WHERE is_default = 1;`,
];

/** Keys a user may hold (a bound on what one context CD-ROM carries). */
export const MAX_KEYS_PER_USER = 32;

interface Row {
  owner_id: string;
  name: string;
  type: SshKeyView['type'];
  bits: number;
  fingerprint: string;
  comment: string;
  public_key: string;
  is_default: number;
  created_at: number;
}

const toView = (r: Row): SshKeyView => ({
  name: r.name,
  type: r.type,
  bits: r.bits,
  fingerprint: r.fingerprint,
  comment: r.comment,
  publicKey: r.public_key,
  default: r.is_default === 1,
  createdAt: r.created_at,
});

export class KeyStore {
  constructor(private readonly db: Db) {
    migrate(db, 'keys', MIGRATIONS);
  }

  list(ownerId: string): SshKeyView[] {
    return (this.db.prepare('SELECT * FROM ssh_keys WHERE owner_id = ? ORDER BY name').all(ownerId) as Row[]).map(
      toView,
    );
  }

  get(ownerId: string, name: string): SshKeyView {
    const r = this.db.prepare('SELECT * FROM ssh_keys WHERE owner_id = ? AND name = ?').get(ownerId, name) as
      | Row
      | undefined;
    if (!r) throw new NotFoundError('key', name);
    return toView(r);
  }

  /** The user's default key, if they have any key. */
  defaultKey(ownerId: string): SshKeyView | undefined {
    const r = this.db.prepare('SELECT * FROM ssh_keys WHERE owner_id = ? AND is_default = 1').get(ownerId) as
      | Row
      | undefined;
    return r && toView(r);
  }

  /** Validates and adds a key; the same key twice under two names is refused (409). */
  add(ownerId: string, name: string, publicKey: string, makeDefault = false): SshKeyView {
    const key = parseSshPublicKey(publicKey);
    return this.db.transaction(() => {
      if (this.db.prepare('SELECT 1 FROM ssh_keys WHERE owner_id = ? AND name = ?').get(ownerId, name))
        throw new ConflictError(`key ${name} already exists`, { name });
      const same = this.db
        .prepare('SELECT name FROM ssh_keys WHERE owner_id = ? AND fingerprint = ?')
        .get(ownerId, key.fingerprint) as { name: string } | undefined;
      if (same) throw new ConflictError(`this key is already added as ${same.name}`, { name: same.name });
      const n = (this.db.prepare('SELECT COUNT(*) AS n FROM ssh_keys WHERE owner_id = ?').get(ownerId) as { n: number })
        .n;
      if (n >= MAX_KEYS_PER_USER) throw new ValidationError(`a user holds at most ${MAX_KEYS_PER_USER} keys`);
      const isDefault = n === 0 || makeDefault;
      if (isDefault) this.db.prepare('UPDATE ssh_keys SET is_default = 0 WHERE owner_id = ?').run(ownerId);
      this.db
        .prepare(
          `INSERT INTO ssh_keys (owner_id, name, type, bits, fingerprint, comment, public_key, is_default, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(ownerId, name, key.type, key.bits, key.fingerprint, key.comment, key.line, isDefault ? 1 : 0, Date.now());
      return this.get(ownerId, name);
    })();
  }

  setDefault(ownerId: string, name: string): SshKeyView {
    return this.db.transaction(() => {
      this.get(ownerId, name);
      this.db.prepare('UPDATE ssh_keys SET is_default = 0 WHERE owner_id = ?').run(ownerId);
      this.db.prepare('UPDATE ssh_keys SET is_default = 1 WHERE owner_id = ? AND name = ?').run(ownerId, name);
      return this.get(ownerId, name);
    })();
  }

  delete(ownerId: string, name: string): void {
    this.db.transaction(() => {
      const k = this.get(ownerId, name);
      this.db.prepare('DELETE FROM ssh_keys WHERE owner_id = ? AND name = ?').run(ownerId, name);
      if (k.default) {
        this.db
          .prepare(
            `UPDATE ssh_keys SET is_default = 1 WHERE rowid = (
               SELECT rowid FROM ssh_keys WHERE owner_id = ? ORDER BY created_at, name LIMIT 1)`,
          )
          .run(ownerId);
      }
    })();
  }

  /** Every key of a user that has left (their VMs keep the keys they were created with). */
  deleteOwner(ownerId: string): void {
    this.db.prepare('DELETE FROM ssh_keys WHERE owner_id = ?').run(ownerId);
  }
}
