// Broker accounts kept by the controller (feature 'mqtt'): one per host (username = host id), the
// dashboards and external controllers, with mosquitto-compatible password hashes ($7$, PBKDF2-SHA512,
// 101 iterations) so that the same accounts serve the embedded broker and a generated password file.

import { pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '../../common/errors.ts';
import { type Db, migrate } from '../../common/sqlite.ts';
import { isHostId } from '../../protocol/mqtt/index.ts';
import type { Account } from './acl.ts';
import type { BrokerRole } from './broker.ts';

const MIGRATIONS = [
  `CREATE TABLE mqtt_accounts (
     username TEXT PRIMARY KEY,
     role TEXT NOT NULL CHECK (role IN ('controller', 'host', 'dashboard')),
     hash TEXT NOT NULL,
     created_at INTEGER NOT NULL
   )`,
];

const ITERATIONS = 101;

export function hashPassword(password: string, salt = randomBytes(12)): string {
  const h = pbkdf2Sync(password, salt, ITERATIONS, 64, 'sha512');
  return `$7$${ITERATIONS}$${salt.toString('base64')}$${h.toString('base64')}`;
}

export function verifyPassword(password: string, hash: string): boolean {
  const [, kind, iter, salt, want] = hash.split('$');
  if (kind !== '7' || !iter || !salt || !want) return false;
  const got = pbkdf2Sync(password, Buffer.from(salt, 'base64'), Number(iter), 64, 'sha512');
  const w = Buffer.from(want, 'base64');
  return w.length === got.length && timingSafeEqual(w, got);
}

export class MqttAccounts {
  constructor(private readonly db: Db) {
    migrate(db, 'mqtt', MIGRATIONS);
  }

  /** Creates an account; returns the password (generated when not given). */
  add(username: string, role: BrokerRole, password?: string): { username: string; password: string } {
    if (!isHostId(username)) {
      throw new ValidationError(`account name "${username}" must be 1-64 letters, digits, ".", "-" or "_"`, {
        username,
      });
    }
    if (this.get(username)) throw new ConflictError(`MQTT account ${username} already exists`, { username });
    const pw = password ?? randomBytes(18).toString('base64url');
    this.db
      .prepare('INSERT INTO mqtt_accounts (username, role, hash, created_at) VALUES (?, ?, ?, ?)')
      .run(username, role, hashPassword(pw), Date.now());
    return { username, password: pw };
  }

  remove(username: string): void {
    const res = this.db.prepare('DELETE FROM mqtt_accounts WHERE username = ?').run(username);
    if (res.changes === 0) throw new NotFoundError('MQTT account', username);
  }

  get(username: string): Account | undefined {
    return this.db.prepare('SELECT username, role, hash FROM mqtt_accounts WHERE username = ?').get(username) as
      | Account
      | undefined;
  }

  list(): Account[] {
    return this.db.prepare('SELECT username, role, hash FROM mqtt_accounts ORDER BY username').all() as Account[];
  }
}
