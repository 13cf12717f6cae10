// Opening SQLite databases (better-sqlite3, WAL) and applying schema migrations per feature: each
// feature (vms, ipam, volumes, images, ...) owns an ordered list of SQL migrations, recorded in
// schema_migrations, so features can evolve their tables independently.

import Database from 'better-sqlite3';

export type Db = Database.Database;

/** Statements kept per database; beyond this many distinct SQL texts the cache starts afresh. */
const STATEMENTS_MAX = 2000;

/**
 * `db.prepare` answers the statement it prepared before for the same SQL: code prepares at the call
 * site, and compiling each time cost more than the query (a VM list of 1,000 VMs prepared ~5,000
 * statements). Statements run to completion synchronously (.get, .all, .run); one being iterated is
 * busy, so code that iterates keeps its own statement and prepares nothing of the same SQL in the loop.
 */
function cacheStatements(db: Db): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let st = cache.get(sql);
    if (!st) {
      st = prepare(sql);
      if (cache.size >= STATEMENTS_MAX) cache.clear();
      cache.set(sql, st);
    }
    return st;
  }) as Db['prepare'];
}

export function openDatabase(path: string): Db {
  const db = new Database(path);
  cacheStatements(db);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    feature TEXT NOT NULL,
    version INTEGER NOT NULL,
    applied_at INTEGER NOT NULL,
    PRIMARY KEY (feature, version)
  )`);
  return db;
}

/** Applies the migrations of `feature` not yet applied, each in its own transaction, in order. */
export function migrate(db: Db, feature: string, migrations: readonly string[]): void {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations WHERE feature = ?').get(feature) as {
    v: number | null;
  };
  const current = row.v ?? 0;
  for (let v = current; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      db.prepare('INSERT INTO schema_migrations (feature, version, applied_at) VALUES (?, ?, ?)').run(
        feature,
        v + 1,
        Date.now(),
      );
    })();
  }
}

/**
 * The rows of `sql` for many ids at once: the statement names the ids as `(SELECT value FROM json_each(?))`,
 * e.g. `... WHERE vm_id IN (SELECT value FROM json_each(?))`. A list of 1,000 VMs is one query per table
 * instead of 1,000.
 */
export function allForIds<R>(db: Db, sql: string, ids: readonly string[]): R[] {
  if (ids.length === 0) return [];
  return db.prepare(sql).all(JSON.stringify(ids)) as R[];
}

/** Rows grouped by one of their columns (the order within a group is the rows' order). */
export function groupBy<R, K extends keyof R>(rows: readonly R[], key: K): Map<R[K], R[]> {
  const out = new Map<R[K], R[]>();
  for (const r of rows) {
    const group = out.get(r[key]);
    if (group) group.push(r);
    else out.set(r[key], [r]);
  }
  return out;
}

/** The listeners of each change hook, per connection (a hook's SQL function is registered once). */
const changeHooks = new WeakMap<Db, Map<string, Set<() => void>>>();

/**
 * Calls `onChange` after each row written (inserted, updated or deleted) in any of `tables` through this
 * connection, whether its transaction commits or rolls back: temporary triggers call a function of this
 * process. Every writer is seen, whichever code runs the SQL. Tables that do not exist (a feature not
 * configured) are skipped. `name` names the function and prefixes the triggers (letters and _ only);
 * several listeners may share a name (two stores on one connection), each is called.
 */
export function onTableChanges(db: Db, name: string, tables: readonly string[], onChange: () => void): void {
  if (!/^[a-z_]+$/.test(name)) throw new Error(`invalid change hook name ${name}`);
  let hooks = changeHooks.get(db);
  if (!hooks) {
    hooks = new Map();
    changeHooks.set(db, hooks);
  }
  let listeners = hooks.get(name);
  if (!listeners) {
    const set = new Set<() => void>();
    listeners = set;
    hooks.set(name, set);
    db.function(name, { deterministic: false }, () => {
      for (const l of set) l();
      return null;
    });
  }
  listeners.add(onChange);
  const existing = new Set(
    (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name),
  );
  for (const table of tables.filter((t) => existing.has(t))) {
    for (const op of ['INSERT', 'UPDATE', 'DELETE']) {
      db.exec(
        `CREATE TEMP TRIGGER IF NOT EXISTS ${name}_${table}_${op.toLowerCase()} AFTER ${op} ON main."${table}"
         BEGIN SELECT ${name}(); END`,
      );
    }
  }
}

/**
 * SQLite's `data_version`: it changes when another connection (another process) commits to the file,
 * never for this connection's own writes. Memory kept from the tables (what onTableChanges clears on this
 * connection's writes) is dropped when it changes, so another process's write is seen too.
 */
export function dataVersion(db: Db): number {
  return (db.prepare('PRAGMA data_version').get() as { data_version: number }).data_version;
}
