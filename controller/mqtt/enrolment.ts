// Host enrolment in the controller (feature 'enrolment'): one-time join tokens, of which only the
// SHA-256 of the secret is kept, each bound to a host name and an expiry. Redeeming a token (it is
// compared in constant time with every pending token) deletes it and creates the host's broker account.
// Revoking a host deletes its account and pending tokens; the daemon then ends its broker sessions.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConflictError, StratusError } from '../../common/errors.ts';
import { type Db, migrate } from '../../common/sqlite.ts';
import { formatJoinToken, parseJoinToken } from '../../protocol/enrolment.ts';
import type { MqttAccounts } from './accounts.ts';

const MIGRATIONS = [
  `CREATE TABLE join_tokens (
     host TEXT PRIMARY KEY,
     secret_sha256 BLOB NOT NULL,
     expires_at INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   )`,
];

export class JoinRefusedError extends StratusError {
  constructor() {
    // One answer for unknown, used and expired tokens: nothing to learn from the difference.
    super('STRATUS_ERR_JOIN_REFUSED', 'join token unknown, already used or expired (ask for a new one)', {
      status: 403,
    });
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

export class Enrolment {
  constructor(
    private readonly db: Db,
    private readonly accounts: MqttAccounts,
    private readonly caFingerprint: () => string,
    private readonly now: () => number = Date.now,
  ) {
    migrate(db, 'enrolment', MIGRATIONS);
  }

  /** A join token for host `name` (replacing any pending one). Refused while the host has an account. */
  issue(name: string, ttlS: number): { token: string; expiresAt: number } {
    if (this.accounts.get(name)) {
      throw new ConflictError(`host ${name} is already enrolled; revoke it first to enrol it again`, { host: name });
    }
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + ttlS * 1000;
    this.db
      .prepare(
        `INSERT INTO join_tokens (host, secret_sha256, expires_at, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (host) DO UPDATE SET secret_sha256 = excluded.secret_sha256,
           expires_at = excluded.expires_at, created_at = excluded.created_at`,
      )
      .run(name, sha256(secret), expiresAt, this.now());
    return { token: formatJoinToken(this.caFingerprint(), secret), expiresAt };
  }

  /** Exchanges a join token for the host's broker account (once); `expect`: the agent's host_id. */
  redeem(token: string, expect?: string): { hostId: string; password: string } {
    const parsed = parseJoinToken(token);
    const got = sha256(parsed?.secret ?? token);
    this.db.prepare('DELETE FROM join_tokens WHERE expires_at <= ?').run(this.now());
    const rows = this.db.prepare('SELECT host, secret_sha256 FROM join_tokens').all() as {
      host: string;
      secret_sha256: Buffer;
    }[];
    let host: string | undefined;
    for (const r of rows) if (timingSafeEqual(r.secret_sha256, got) && parsed) host = r.host;
    if (!host) throw new JoinRefusedError();
    const hostId = host;
    if (expect !== undefined && expect !== hostId) {
      throw new ConflictError(
        `this join token is for host "${hostId}", but the agent's host_id is "${expect}": set [agent] host_id = "${hostId}" (the token stays valid)`,
        { host: hostId, agent: expect },
      );
    }
    return this.db.transaction(() => {
      const del = this.db.prepare('DELETE FROM join_tokens WHERE host = ? AND secret_sha256 = ?').run(hostId, got);
      if (del.changes !== 1) throw new JoinRefusedError();
      return { hostId, password: this.accounts.add(hostId, 'host').password };
    })();
  }

  /** Removes the host's account and pending token; whether there was anything to remove. */
  revoke(name: string): boolean {
    const tokens = this.db.prepare('DELETE FROM join_tokens WHERE host = ?').run(name).changes;
    const account = this.accounts.get(name)?.role === 'host';
    if (account) this.accounts.remove(name);
    return tokens > 0 || account;
  }

  pending(): { host: string; expiresAt: number }[] {
    return (
      this.db
        .prepare('SELECT host, expires_at FROM join_tokens WHERE expires_at > ? ORDER BY host')
        .all(this.now()) as {
        host: string;
        expires_at: number;
      }[]
    ).map((r) => ({ host: r.host, expiresAt: r.expires_at }));
  }
}
