// The record of commands by idempotency key (agent database, feature 'commands'): a key is run at
// most once; its outcome is kept so that a redelivered or retried command gets the same answer
// without running again. Finished records older than a week are purged.

import { type Db, migrate } from '../../common/sqlite.ts';

const MIGRATIONS = [
  `CREATE TABLE commands (
     key TEXT PRIMARY KEY,
     id TEXT NOT NULL,
     command TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('running', 'done')),
     outcome TEXT,
     received_at INTEGER NOT NULL,
     finished_at INTEGER
   )`,
];

const KEEP_MS = 7 * 86_400_000;

export interface Outcome {
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string; status: number; details: Record<string, unknown> };
}

export interface CommandRecord {
  key: string;
  id: string;
  command: string;
  state: 'running' | 'done';
  outcome: Outcome | undefined;
  receivedAt: number;
}

export class CommandStore {
  constructor(private readonly db: Db) {
    migrate(db, 'commands', MIGRATIONS);
    this.purge();
  }

  get(key: string): CommandRecord | undefined {
    const r = this.db.prepare('SELECT * FROM commands WHERE key = ?').get(key) as
      | {
          key: string;
          id: string;
          command: string;
          state: 'running' | 'done';
          outcome: string | null;
          received_at: number;
        }
      | undefined;
    if (!r) return undefined;
    return {
      key: r.key,
      id: r.id,
      command: r.command,
      state: r.state,
      outcome: r.outcome ? (JSON.parse(r.outcome) as Outcome) : undefined,
      receivedAt: r.received_at,
    };
  }

  /** Records that `key` starts; false when the key was already recorded (the caller must not run it). */
  begin(key: string, id: string, command: string): boolean {
    const res = this.db
      .prepare(
        "INSERT INTO commands (key, id, command, state, received_at) VALUES (?, ?, ?, 'running', ?) ON CONFLICT DO NOTHING",
      )
      .run(key, id, command, Date.now());
    return res.changes === 1;
  }

  finish(key: string, outcome: Outcome): void {
    this.db
      .prepare("UPDATE commands SET state = 'done', outcome = ?, finished_at = ? WHERE key = ?")
      .run(JSON.stringify(outcome), Date.now(), key);
  }

  /** Forgets a key (its failure was transient, or it left nothing behind): the next delivery runs it. */
  forget(key: string): void {
    this.db.prepare('DELETE FROM commands WHERE key = ?').run(key);
  }

  /** Records a command refused before running (deadline passed, unknown, bad arguments). */
  refuse(key: string, id: string, command: string, outcome: Outcome): void {
    if (this.begin(key, id, command)) this.finish(key, outcome);
  }

  purge(now = Date.now()): void {
    this.db.prepare("DELETE FROM commands WHERE state = 'done' AND finished_at < ?").run(now - KEEP_MS);
  }
}
