// The MQTT session counter and the per-host sequence number, kept in the agent database so that
// both stay monotonic across reconnects and restarts. Sequence numbers are reserved in blocks: one
// write per block, and a restart skips the rest of the block instead of reusing numbers.

import { type Db, migrate } from '../../common/sqlite.ts';

const MIGRATIONS = [
  `CREATE TABLE mqtt_session (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     session INTEGER NOT NULL,
     seq_reserved INTEGER NOT NULL
   );
   INSERT INTO mqtt_session (id, session, seq_reserved) VALUES (1, 0, 0)`,
];

const BLOCK = 10_000;

export class SessionStore {
  private seq: number;
  private reserved: number;

  constructor(private readonly db: Db) {
    migrate(db, 'mqtt', MIGRATIONS);
    const row = db.prepare('SELECT seq_reserved FROM mqtt_session WHERE id = 1').get() as { seq_reserved: number };
    this.seq = row.seq_reserved;
    this.reserved = row.seq_reserved;
  }

  /** Increments and returns the session counter (one per connection attempt). */
  nextSession(): number {
    const row = this.db
      .prepare('UPDATE mqtt_session SET session = session + 1 WHERE id = 1 RETURNING session')
      .get() as {
      session: number;
    };
    return row.session;
  }

  nextSeq(): number {
    if (this.seq >= this.reserved) {
      this.reserved = this.seq + BLOCK;
      this.db.prepare('UPDATE mqtt_session SET seq_reserved = ? WHERE id = 1').run(this.reserved);
    }
    return ++this.seq;
  }
}
