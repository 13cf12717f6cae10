// The entries of the site Marketplace in SQLite: one row per (Marketplace id, endorser e-mail), holding
// the newest version that endorser signed (by `created`; a deprecation is a newer signed version), its
// signature as received, and where it came from (local publish or the feed it was replicated from).

import { type Db, migrate } from '../../common/sqlite.ts';
import type { MarketplaceEntry } from '../../protocol/marketplace.ts';

const MIGRATIONS = [
  `CREATE TABLE market_entries (
     id TEXT NOT NULL,
     email TEXT NOT NULL COLLATE NOCASE,
     created TEXT NOT NULL,
     entry TEXT NOT NULL,
     signature TEXT NOT NULL,
     origin TEXT NOT NULL,
     received_at INTEGER NOT NULL,
     PRIMARY KEY (id, email)
   )`,
];

export interface StoredEntry {
  entry: MarketplaceEntry;
  signature: string;
  origin: string;
  receivedAt: number;
}

interface Row {
  entry: string;
  signature: string;
  origin: string;
  received_at: number;
}

const toStored = (r: Row): StoredEntry => ({
  entry: JSON.parse(r.entry) as MarketplaceEntry,
  signature: r.signature,
  origin: r.origin,
  receivedAt: r.received_at,
});

export class EntryStore {
  constructor(private readonly db: Db) {
    migrate(db, 'market_entries', MIGRATIONS);
  }

  /**
   * Keeps the entry when it is newer than the stored version of (id, endorser), or as new but
   * deprecated; returns 'added', 'updated' or 'unchanged' (an older or identical version).
   */
  put(entry: MarketplaceEntry, signature: string, origin: string): 'added' | 'updated' | 'unchanged' {
    return this.db.transaction(() => {
      const old = this.db
        .prepare('SELECT * FROM market_entries WHERE id = ? AND email = ?')
        .get(entry.id, entry.endorser.email) as Row | undefined;
      if (old) {
        const o = JSON.parse(old.entry) as MarketplaceEntry;
        const newer =
          Date.parse(entry.created) > Date.parse(o.created) ||
          (entry.created === o.created && entry.deprecated !== undefined && o.deprecated === undefined);
        if (!newer) return 'unchanged';
      }
      this.db
        .prepare(
          `INSERT INTO market_entries (id, email, created, entry, signature, origin, received_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id, email) DO UPDATE SET created = excluded.created, entry = excluded.entry,
             signature = excluded.signature, origin = excluded.origin, received_at = excluded.received_at`,
        )
        .run(entry.id, entry.endorser.email, entry.created, JSON.stringify(entry), signature, origin, Date.now());
      return old ? 'updated' : 'added';
    })();
  }

  all(): StoredEntry[] {
    return (this.db.prepare('SELECT * FROM market_entries ORDER BY id, email').all() as Row[]).map(toStored);
  }

  byId(id: string): StoredEntry[] {
    return (this.db.prepare('SELECT * FROM market_entries WHERE id = ? ORDER BY created DESC').all(id) as Row[]).map(
      toStored,
    );
  }
}
