// The agent's SQLite database (WAL): the desired state of every VM it manages, so that a restarted
// agent knows what it owns without asking anyone and without touching running domains.

import { type Db, migrate, openDatabase } from '../../common/sqlite.ts';
import type { DesiredPower, VmSpec } from '../../protocol/vm-spec.ts';

export interface VmRecord {
  id: string;
  spec: VmSpec;
  desired: DesiredPower;
  observed: string;
  reason: string;
  createdAt: number;
  updatedAt: number;
  /** Idempotency key of the deploy that created the VM (the controller's attempt), when any. */
  key: string | undefined;
  /** specHash() of the spec as the deploy carried it (protocol/mqtt/inventory.ts). */
  specHash: string | undefined;
}

interface Row {
  id: string;
  spec: string;
  desired: DesiredPower;
  observed: string;
  reason: string;
  created_at: number;
  updated_at: number;
  attempt_key: string | null;
  spec_hash: string | null;
}

const MIGRATIONS = [
  `CREATE TABLE vms (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     spec TEXT NOT NULL,
     desired TEXT NOT NULL CHECK (desired IN ('running', 'stopped')),
     observed TEXT NOT NULL DEFAULT 'unknown',
     reason TEXT NOT NULL DEFAULT '',
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   )`,
  'ALTER TABLE vms ADD COLUMN attempt_key TEXT',
  'ALTER TABLE vms ADD COLUMN spec_hash TEXT',
];

function toRecord(r: Row): VmRecord {
  return {
    id: r.id,
    spec: JSON.parse(r.spec) as VmSpec,
    desired: r.desired,
    observed: r.observed,
    reason: r.reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    key: r.attempt_key ?? undefined,
    specHash: r.spec_hash ?? undefined,
  };
}

export class AgentStateDb {
  /** The open database, for other agent features that keep their own tables (see common/sqlite.ts). */
  readonly db: Db;

  constructor(path: string) {
    this.db = openDatabase(path);
    migrate(this.db, 'vms', MIGRATIONS);
  }

  insert(spec: VmSpec, desired: DesiredPower, origin: { key?: string; specHash?: string } = {}): VmRecord {
    const now = Date.now();
    this.db
      .prepare(
        'INSERT INTO vms (id, name, spec, desired, created_at, updated_at, attempt_key, spec_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(spec.id, spec.name, JSON.stringify(spec), desired, now, now, origin.key ?? null, origin.specHash ?? null);
    return this.get(spec.id)!;
  }

  get(id: string): VmRecord | undefined {
    const r = this.db.prepare('SELECT * FROM vms WHERE id = ?').get(id) as Row | undefined;
    return r && toRecord(r);
  }

  list(): VmRecord[] {
    return (this.db.prepare('SELECT * FROM vms ORDER BY created_at, id').all() as Row[]).map(toRecord);
  }

  setDesired(id: string, desired: DesiredPower, reason = ''): void {
    this.db
      .prepare('UPDATE vms SET desired = ?, reason = ?, updated_at = ? WHERE id = ?')
      .run(desired, reason, Date.now(), id);
  }

  setObserved(id: string, observed: string): void {
    this.db
      .prepare('UPDATE vms SET observed = ?, updated_at = ? WHERE id = ? AND observed != ?')
      .run(observed, Date.now(), id, observed);
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM vms WHERE id = ?').run(id);
  }

  close(): void {
    this.db.close();
  }
}
