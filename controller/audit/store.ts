// The audit log in the controller database (feature `audit`): every mutating API call, every refused
// authentication and every command sent to a host, with who (user, or the controller itself), from
// where, what (method and route, or command and host), a summary of the request (never the body
// itself: identifying fields only, secrets and capability URLs removed), when, and the outcome (HTTP
// status or ok/error with the error code). Old entries are pruned after [audit] keep_days.

import { type Static, Type } from '@sinclair/typebox';
import { type Db, migrate } from '../../common/sqlite.ts';

const MIGRATIONS = [
  `CREATE TABLE audit_log (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     actor TEXT NOT NULL,
     actor_id TEXT,
     source TEXT,
     kind TEXT NOT NULL CHECK (kind IN ('api', 'command')),
     action TEXT NOT NULL,
     target TEXT NOT NULL,
     summary TEXT NOT NULL DEFAULT '{}',
     status INTEGER,
     outcome TEXT NOT NULL,
     code TEXT,
     request_id TEXT
   );
   CREATE INDEX audit_log_at ON audit_log (at);
   CREATE INDEX audit_log_actor ON audit_log (actor, at)`,
];

export const AuditEntry = Type.Object({
  id: Type.Integer(),
  at: Type.String({ format: 'date-time', description: 'When it ended (ISO 8601)' }),
  actor: Type.String({
    description: 'User name, `anonymous`, or `controller` for what the controller does on its own',
  }),
  source: Type.Union([Type.String(), Type.Null()], { description: "The caller's address (API calls)" }),
  kind: Type.Union([Type.Literal('api'), Type.Literal('command')]),
  action: Type.String({ description: 'HTTP method and route (`POST /v1/vms`), or the command sent (`deploy`)' }),
  target: Type.String({ description: 'The request path, or the host a command went to' }),
  summary: Type.Record(Type.String(), Type.Unknown(), {
    description: 'Identifying fields of the request (names, ids, sizes); never secrets or whole bodies',
  }),
  status: Type.Union([Type.Integer(), Type.Null()], { description: 'HTTP status (API calls)' }),
  outcome: Type.Union([Type.Literal('ok'), Type.Literal('error')]),
  code: Type.Union([Type.String(), Type.Null()], { description: 'STRATUS_ERR_* of a failure' }),
  requestId: Type.Union([Type.String(), Type.Null()]),
});
export type AuditEntry = Static<typeof AuditEntry>;

export interface AuditRecord {
  actor: string;
  actorId?: string | undefined;
  source?: string | undefined;
  kind: 'api' | 'command';
  action: string;
  target: string;
  summary: Record<string, unknown>;
  status?: number | undefined;
  outcome: 'ok' | 'error';
  code?: string | undefined;
  requestId?: string | undefined;
}

interface Row {
  id: number;
  at: number;
  actor: string;
  source: string | null;
  kind: 'api' | 'command';
  action: string;
  target: string;
  summary: string;
  status: number | null;
  outcome: 'ok' | 'error';
  code: string | null;
  request_id: string | null;
}

const MAX_SUMMARY = 2048;

export class AuditStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {
    migrate(db, 'audit', MIGRATIONS);
  }

  record(r: AuditRecord): void {
    let summary = JSON.stringify(r.summary);
    if (summary.length > MAX_SUMMARY) summary = JSON.stringify({ truncated: summary.slice(0, MAX_SUMMARY) });
    this.db
      .prepare(
        `INSERT INTO audit_log (at, actor, actor_id, source, kind, action, target, summary, status, outcome, code, request_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        this.now(),
        r.actor,
        r.actorId ?? null,
        r.source ?? null,
        r.kind,
        r.action,
        r.target.slice(0, 1024),
        summary,
        r.status ?? null,
        r.outcome,
        r.code ?? null,
        r.requestId ?? null,
      );
  }

  /** Entries newest first, optionally of one actor and since a time (ms). */
  list(q: { actor?: string | undefined; since?: number | undefined; limit: number }): AuditEntry[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.actor !== undefined) {
      where.push('actor = ?');
      args.push(q.actor);
    }
    if (q.since !== undefined) {
      where.push('at >= ?');
      args.push(q.since);
    }
    const sql = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, q.limit) as Row[]).map((r) => ({
      id: r.id,
      at: new Date(r.at).toISOString(),
      actor: r.actor,
      source: r.source,
      kind: r.kind,
      action: r.action,
      target: r.target,
      summary: JSON.parse(r.summary) as Record<string, unknown>,
      status: r.status,
      outcome: r.outcome,
      code: r.code,
      requestId: r.request_id,
    }));
  }

  /** Removes entries older than `keepMs`; returns how many. */
  prune(keepMs: number): number {
    return Number(this.db.prepare('DELETE FROM audit_log WHERE at < ?').run(this.now() - keepMs).changes);
  }
}
