// Users of the REST API: a name, a role (admin or user), per-user quotas, and a bearer token of which
// only the SHA-256 is stored. The first admin's token comes from the configuration or is generated at
// first start and written to <state_dir>/admin.token (mode 0600) for the site admin to pick up.

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError } from '../../common/errors.ts';
import { dataVersion, type Db, migrate, onTableChanges } from '../../common/sqlite.ts';

export { Quota, Role, User, UserName } from '../../protocol/user.ts';
import type { Quota, User } from '../../protocol/user.ts';

export interface Principal {
  id: string;
  name: string;
  role: 'admin' | 'user';
}

const MIGRATIONS = [
  `CREATE TABLE users (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
     token_sha256 TEXT NOT NULL UNIQUE,
     quota TEXT NOT NULL,
     created_at INTEGER NOT NULL
   )`,
];

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
export const DEFAULT_QUOTA: Quota = { vms: 20, vcpus: 64, memoryMiB: 131_072 };

interface Row {
  id: string;
  name: string;
  role: 'admin' | 'user';
  quota: string;
  created_at: number;
}

const toUser = (r: Row): User => ({
  id: r.id,
  name: r.name,
  role: r.role,
  quota: JSON.parse(r.quota) as Quota,
  createdAt: r.created_at,
});

/** Tokens whose principal is kept in memory at most (beyond, the memory starts afresh). */
const PRINCIPALS_MAX = 10_000;

export class UserStore {
  /**
   * Principals by token hash, as the table last answered (one query less per API call); cleared by
   * every write to `users`, whichever code makes it (a user deleted, a token or role changed), so a
   * revoked token is refused by the very next call; and by a commit of another process to the file
   * (`dataVersion`). Unknown tokens are not kept.
   */
  private readonly principals = new Map<string, Principal>();
  private seenVersion = -1;

  constructor(private readonly db: Db) {
    migrate(db, 'users', MIGRATIONS);
    onTableChanges(db, 'stratus_users_changed', ['users'], () => this.principals.clear());
  }

  /** Creates a user and returns its token (shown once, never stored). */
  create(
    name: string,
    role: 'admin' | 'user',
    quota: Quota = DEFAULT_QUOTA,
    token?: string,
  ): { user: User; token: string } {
    if (this.db.prepare('SELECT 1 FROM users WHERE name = ?').get(name))
      throw new ConflictError(`user ${name} already exists`, { name });
    const t = token ?? `st_${randomBytes(24).toString('base64url')}`;
    const id = randomUUID();
    this.db
      .prepare('INSERT INTO users (id, name, role, token_sha256, quota, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, name, role, sha256(t), JSON.stringify(quota), Date.now());
    return { user: this.get(id), token: t };
  }

  get(id: string): User {
    const r = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as Row | undefined;
    if (!r) throw new NotFoundError('user', id);
    return toUser(r);
  }

  find(id: string): User | undefined {
    const r = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as Row | undefined;
    return r && toUser(r);
  }

  byName(name: string): User | undefined {
    const r = this.db.prepare('SELECT * FROM users WHERE name = ?').get(name) as Row | undefined;
    return r && toUser(r);
  }

  list(): User[] {
    return (this.db.prepare('SELECT * FROM users ORDER BY name').all() as Row[]).map(toUser);
  }

  setQuota(id: string, quota: Quota): User {
    this.get(id);
    this.db.prepare('UPDATE users SET quota = ? WHERE id = ?').run(JSON.stringify(quota), id);
    return this.get(id);
  }

  authenticate(token: string): Principal | undefined {
    const hash = sha256(token);
    const version = dataVersion(this.db);
    if (version !== this.seenVersion) {
      this.principals.clear();
      this.seenVersion = version;
    }
    const kept = this.principals.get(hash);
    if (kept) return { ...kept };
    const r = this.db.prepare('SELECT id, name, role FROM users WHERE token_sha256 = ?').get(hash) as
      | Principal
      | undefined;
    if (r) {
      if (this.principals.size >= PRINCIPALS_MAX) this.principals.clear();
      this.principals.set(hash, { ...r });
    }
    return r;
  }

  hasAdmin(): boolean {
    return this.db.prepare("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1").get() !== undefined;
  }

  delete(id: string): void {
    this.get(id);
    this.db.prepare('DELETE FROM users WHERE id = ?').run(id);
  }
}
