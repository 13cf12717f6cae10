// The operation journal (agent database, feature 'operations'): every multi-step operation on a VM
// (create, delete, volume attach and detach, snapshot create/revert/delete, save-as) is recorded
// before its first step, each finished step is appended as it happens, and the final status (with
// the result of a finished one) is written when it ends. After a crash of the agent or of libvirtd,
// recovery (agent/vm/recovery.ts) reads the unfinished entries and finishes or undoes each of them
// before the agent takes any command; an interrupted command is answered from its entry.
// Finished entries are kept a week (the idempotency window of commands), like the command records.

import { type Db, migrate } from '../../common/sqlite.ts';
import { crashPoint } from '../../common/crash-point.ts';
import { asStratusError } from '../../common/errors.ts';
import { LibvirtError } from '../../drivers/libvirt/index.ts';

const MIGRATIONS = [
  `CREATE TABLE operations (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     vm TEXT NOT NULL,
     key TEXT,
     status TEXT NOT NULL CHECK (status IN ('running', 'undoing', 'done', 'undone')),
     steps TEXT NOT NULL DEFAULT '[]',
     data TEXT NOT NULL DEFAULT '{}',
     error TEXT,
     started_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   )`,
  'CREATE INDEX operations_key ON operations (key)',
  "CREATE INDEX operations_open ON operations (status) WHERE status IN ('running', 'undoing')",
  'ALTER TABLE operations ADD COLUMN result TEXT',
];

const KEEP_MS = 7 * 86_400_000;

export type OperationKind = 'create' | 'delete' | 'attach' | 'detach' | 'snapshot' | 'save-as' | 'migrate-out';
export type OperationStatus = 'running' | 'undoing' | 'done' | 'undone';

export interface JournalStep {
  step: string;
  at: number;
  /** What the step created or changed (a path, a domain, ...), enough to undo it. */
  data?: Record<string, unknown>;
}

export interface Operation {
  id: number;
  kind: OperationKind;
  vm: string;
  key: string | undefined;
  status: OperationStatus;
  steps: JournalStep[];
  /** Inputs of the operation (the create's spec, start flag, ...): what recovery needs to finish it. */
  data: Record<string, unknown>;
  /** The error that ended an undone operation, when it was a definitive failure (StratusError JSON). */
  error: { code: string; message: string; status: number; details: Record<string, unknown> } | undefined;
  /** What a finished operation answered (the command's result), when it is worth replaying. */
  result: unknown;
  startedAt: number;
}

interface Row {
  id: number;
  kind: OperationKind;
  vm: string;
  key: string | null;
  status: OperationStatus;
  steps: string;
  data: string;
  error: string | null;
  result: string | null;
  started_at: number;
}

function toOp(r: Row): Operation {
  return {
    id: r.id,
    kind: r.kind,
    vm: r.vm,
    key: r.key ?? undefined,
    status: r.status,
    steps: JSON.parse(r.steps) as JournalStep[],
    data: JSON.parse(r.data) as Record<string, unknown>,
    error: r.error ? JSON.parse(r.error) : undefined,
    result: r.result ? JSON.parse(r.result) : undefined,
    startedAt: r.started_at,
  };
}

export class OperationJournal {
  /** Called after every change of an operation (the inventory shows unfinished operations). */
  onChange: (op: Operation) => void = () => undefined;

  constructor(private readonly db: Db) {
    migrate(db, 'operations', MIGRATIONS);
    this.db
      .prepare("DELETE FROM operations WHERE status IN ('done', 'undone') AND updated_at < ?")
      .run(Date.now() - KEEP_MS);
  }

  begin(kind: OperationKind, vm: string, key: string | undefined, data: Record<string, unknown> = {}): Operation {
    const now = Date.now();
    const res = this.db
      .prepare(
        "INSERT INTO operations (kind, vm, key, status, data, started_at, updated_at) VALUES (?, ?, ?, 'running', ?, ?, ?)",
      )
      .run(kind, vm, key ?? null, JSON.stringify(data), now, now);
    const op = this.get(Number(res.lastInsertRowid))!;
    this.onChange(op);
    crashPoint(`${kind}:begin`);
    return op;
  }

  get(id: number): Operation | undefined {
    const r = this.db.prepare('SELECT * FROM operations WHERE id = ?').get(id) as Row | undefined;
    return r && toOp(r);
  }

  /** Appends a finished step; `crashPoint` lets fault tests kill the agent right after it. */
  step(op: Operation, step: string, data?: Record<string, unknown>): void {
    op.steps.push({ step, at: Date.now(), ...(data ? { data } : {}) });
    this.db
      .prepare('UPDATE operations SET steps = ?, updated_at = ? WHERE id = ?')
      .run(JSON.stringify(op.steps), Date.now(), op.id);
    crashPoint(`${op.kind}:after-${step}`);
  }

  has(op: Operation, step: string): boolean {
    return op.steps.some((s) => s.step === step);
  }

  setStatus(op: Operation, status: OperationStatus, error?: Operation['error']): void {
    op.status = status;
    op.error = error;
    this.db
      .prepare('UPDATE operations SET status = ?, error = ?, updated_at = ? WHERE id = ?')
      .run(status, error ? JSON.stringify(error) : null, Date.now(), op.id);
    this.onChange(op);
  }

  /** Marks the operation finished with the result its command answers (replayed after a crash). */
  finish(op: Operation, result: unknown): void {
    op.result = result;
    this.db
      .prepare('UPDATE operations SET result = ? WHERE id = ?')
      .run(result === undefined ? null : JSON.stringify(result), op.id);
    this.setStatus(op, 'done');
  }

  /**
   * Ends an operation that failed in the running agent. When an undo failed it is left 'undoing' for
   * recovery to undo; else, when libvirt went away, its effect is unknown until libvirt is back: the
   * entry stays open for recovery (which runs again after the reconnect); otherwise it is undone.
   */
  fail(op: Operation, err: unknown, undoFailed = false): void {
    const error = asStratusError(err).toJSON();
    const undoFailures = (err as { undoFailures?: unknown[] }).undoFailures ?? [];
    if (undoFailed || undoFailures.length > 0) this.setStatus(op, 'undoing', error);
    else if (!isConnectionLoss(err)) this.setStatus(op, 'undone', error);
  }

  /** Operations not finished nor undone, oldest first (after a crash: what recovery must settle). */
  unfinished(): Operation[] {
    return (
      this.db.prepare("SELECT * FROM operations WHERE status IN ('running', 'undoing') ORDER BY id").all() as Row[]
    ).map(toOp);
  }

  /** The latest operation run under an idempotency key. */
  byKey(key: string): Operation | undefined {
    const r = this.db.prepare('SELECT * FROM operations WHERE key = ? ORDER BY id DESC LIMIT 1').get(key) as
      | Row
      | undefined;
    return r && toOp(r);
  }

  /** The unfinished operation on a VM, if any. */
  openFor(vm: string): Operation | undefined {
    const r = this.db
      .prepare("SELECT * FROM operations WHERE vm = ? AND status IN ('running', 'undoing') ORDER BY id DESC LIMIT 1")
      .get(vm) as Row | undefined;
    return r && toOp(r);
  }
}

/** libvirt was unreachable (connection lost, daemon down): the effect of the call is unknown. */
export function isConnectionLoss(err: unknown): boolean {
  if (err instanceof LibvirtError && err.connectionLost) return true;
  const e = asStratusError(err);
  return e.code === 'STRATUS_ERR_LIBVIRT_DISCONNECTED';
}
