// The site's trust store: endorser keys an admin trusts, each for one e-mail address, and their
// revocation. It is the only source of trust for entries published here, replicated from other sites,
// and checked before launches; revoking a key refuses its entries from the next check on (listing,
// replication, launch), without deleting them, so that what was refused stays explainable.

import { NotFoundError, ValidationError } from '../../common/errors.ts';
import type { TrustAnswer, TrustLookup } from '../../common/marketplace-verify.ts';
import { type Db, migrate } from '../../common/sqlite.ts';
import { publicKeyLine, signingKeyFromLine } from '../../common/sshsig.ts';
import type { TrustKey } from '../../protocol/marketplace.ts';

const MIGRATIONS = [
  `CREATE TABLE market_trust (
     fingerprint TEXT NOT NULL,
     email TEXT NOT NULL COLLATE NOCASE,
     public_key TEXT NOT NULL,
     comment TEXT NOT NULL DEFAULT '',
     added_at INTEGER NOT NULL,
     added_by TEXT NOT NULL,
     revoked_at INTEGER,
     revoked_reason TEXT,
     PRIMARY KEY (fingerprint, email)
   )`,
];

interface Row {
  fingerprint: string;
  email: string;
  public_key: string;
  comment: string;
  added_at: number;
  added_by: string;
  revoked_at: number | null;
  revoked_reason: string | null;
}

const view = (r: Row): TrustKey => ({
  fingerprint: r.fingerprint,
  email: r.email,
  publicKey: r.public_key,
  comment: r.comment,
  addedAt: r.added_at,
  addedBy: r.added_by,
  revokedAt: r.revoked_at,
  revokedReason: r.revoked_reason,
});

export class TrustStore implements TrustLookup {
  constructor(private readonly db: Db) {
    migrate(db, 'market_trust', MIGRATIONS);
  }

  /** Trusts a key for an e-mail; a key that was revoked cannot be trusted again (make a new one). */
  add(email: string, publicKey: string, comment: string, by: string): TrustKey {
    let key: ReturnType<typeof signingKeyFromLine>;
    try {
      key = signingKeyFromLine(publicKey);
    } catch (err) {
      throw new ValidationError((err as Error).message);
    }
    const revoked = this.db
      .prepare('SELECT 1 FROM market_trust WHERE fingerprint = ? AND revoked_at IS NOT NULL')
      .get(key.fingerprint);
    if (revoked) throw new ValidationError(`key ${key.fingerprint} was revoked; it cannot be trusted again`);
    this.db
      .prepare(
        `INSERT INTO market_trust (fingerprint, email, public_key, comment, added_at, added_by)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint, email) DO UPDATE SET comment = excluded.comment`,
      )
      .run(key.fingerprint, email, publicKeyLine(key), comment || key.comment, Date.now(), by);
    return this.list().find((k) => k.fingerprint === key.fingerprint && k.email.toLowerCase() === email.toLowerCase())!;
  }

  /** Revokes every trust of a key (all its e-mails). */
  revoke(fingerprint: string, reason: string): TrustKey[] {
    const r = this.db
      .prepare(
        'UPDATE market_trust SET revoked_at = ?, revoked_reason = ? WHERE fingerprint = ? AND revoked_at IS NULL',
      )
      .run(Date.now(), reason || 'revoked', fingerprint);
    if (r.changes === 0 && !this.list().some((k) => k.fingerprint === fingerprint)) {
      throw new NotFoundError('trusted key', fingerprint);
    }
    return this.list().filter((k) => k.fingerprint === fingerprint);
  }

  list(): TrustKey[] {
    return (this.db.prepare('SELECT * FROM market_trust ORDER BY added_at, email').all() as Row[]).map(view);
  }

  check(fingerprint: string, email: string): TrustAnswer {
    const rows = this.db.prepare('SELECT * FROM market_trust WHERE fingerprint = ?').all(fingerprint) as Row[];
    const revoked = rows.find((r) => r.revoked_at !== null);
    if (revoked) {
      return {
        trusted: false,
        rule: 'revoked',
        why: `key ${fingerprint} is revoked (${revoked.revoked_reason ?? 'revoked'})`,
      };
    }
    if (rows.length === 0) {
      return { trusted: false, rule: 'unknown-endorser', why: `key ${fingerprint} is not in the site trust store` };
    }
    if (!rows.some((r) => r.email.toLowerCase() === email.toLowerCase())) {
      return {
        trusted: false,
        rule: 'unknown-endorser',
        why: `key ${fingerprint} is trusted for ${rows.map((r) => r.email).join(', ')}, not ${email}`,
      };
    }
    return { trusted: true };
  }
}
