// Settles the operations a crash of the agent (or of libvirtd) left unfinished, from the journal:
// - a create whose domain was defined (and whose volumes were attached) is finished: started if it
//   was to be started, and recorded as done; one cut earlier is undone completely (domain, overlays,
//   firewall rules, volume sessions, context CD-ROM, record), so the redelivered deploy runs again;
// - a delete is always finished;
// - a volume attach (agent/volumes/volume-recovery.ts) whose disk is in the domain (journaled, or
//   seen in its definition) is finished: the attachment record is written; one cut earlier is undone
//   completely (half-plugged disk removed, libvirt secret undefined, iSCSI session logged out unless
//   another attachment shares it, record removed), so the redelivered command runs again;
// - a volume detach is always finished: disk removed, secret or session released, record removed;
// - a snapshot create (agent/images/image-recovery.ts) is finished when libvirt has the snapshot
//   (it is recorded), else undone (a row removed; a stopped VM's qcow2 disks lose a tag of that name
//   left without libvirt metadata); revert and delete are always finished (reverting again to the
//   same snapshot, deleting again); a snapshot that no longer exists undoes them with that error;
// - a save-as is finished when its image was admitted to the cache and its file is there, else
//   undone: the live block copy job still mirroring into the temporary file is aborted and the
//   file removed (the cache also drops its temporary directory at start);
// - an operation whose undo failed in the running agent (libvirt was gone) is undone again, and
//   one left open because libvirt went away mid-call is settled by these rules once it is back.
// - a migration away ('migrate-out') is settled from the domain here (agent/vm/migration.ts): gone means
//   moved, running with no migration job left means stayed; a paused copy stays open until the
//   controller says what the target has (`migrate.settle`).
// A settled operation's outcome is what a redelivered command with its key gets (interruptedOutcome):
// the result of a finished one, the definitive error of an undone one, else it runs again.
// Runs before the agent takes commands, and again at each full comparison until nothing is open.

import type { Logger } from 'pino';
import { asStratusError } from '../../common/errors.ts';
import type { LibvirtConnection } from '../../drivers/libvirt/index.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import type { Operation, OperationJournal, OperationKind } from './journal.ts';
import type { AgentStateDb } from './state-db.ts';
import type { VmService } from './vm-service.ts';

/** Settles interrupted operations of one kind (finished or undone: the settler sets the status). */
export interface OperationSettler {
  /** Throws (a 503, libvirt gone again) to leave the operation open for a later try. */
  settle(op: Operation, log: Logger): Promise<'finished' | 'undone'>;
}

export interface RecoveryOptions {
  /** Settlers of the kinds other than create and delete (attach, detach, snapshot, save-as). */
  settlers?: Partial<Record<OperationKind, OperationSettler>>;
  conn: LibvirtConnection;
  db: AgentStateDb;
  journal: OperationJournal;
  vms: VmService;
  log: Logger;
  /** Settles a migration away that was in doubt; false while only the target can tell (VmMigration). */
  migration?: { settleOut(op: Operation): Promise<{ settled: boolean }> };
  /** Reports what recovery did (host event stream). */
  event?: (kind: string, severity: 'info' | 'warning' | 'error', message: string, vm: string, data: object) => void;
}

export class OperationRecovery {
  constructor(private readonly o: RecoveryOptions) {}

  /** Settles every open operation; returns how many are still open (their VM stays locked out). */
  async settleAll(): Promise<number> {
    let open = 0;
    for (const op of this.o.journal.unfinished()) {
      if (this.o.vms.locks.isLocked(op.vm)) {
        open++; // in progress in this very process
        continue;
      }
      try {
        await this.o.vms.locks.run(op.vm, () => this.settle(op));
      } catch (err) {
        open++;
        this.o.log.error(
          { vm: op.vm, op: op.id, kind: op.kind, err: (err as Error).message },
          'cannot settle an interrupted operation yet; will retry',
        );
      }
    }
    return open;
  }

  private async settle(op: Operation): Promise<void> {
    const current = this.o.journal.get(op.id);
    if (!current || (current.status !== 'running' && current.status !== 'undoing')) return;
    const log = this.o.log.child({ vm: op.vm, op: op.id, kind: op.kind, key: op.key });
    if (op.kind === 'migrate-out') {
      const r = await this.o.migration?.settleOut(op);
      if (!r?.settled)
        throw new Error('a migration away is in doubt: waiting for the controller to say where the VM is');
      this.o.event?.('operation.finished', 'info', 'interrupted migration settled', op.vm, this.data(op));
      return;
    }
    if (op.kind === 'create' && op.status === 'running' && this.canFinishCreate(op)) {
      try {
        await this.finishCreate(op);
        this.o.journal.setStatus(op, 'done');
        log.info({ steps: op.steps.map((s) => s.step) }, 'interrupted create finished');
        this.o.event?.('operation.finished', 'info', 'interrupted create finished', op.vm, this.data(op));
        return;
      } catch (err) {
        const e = asStratusError(err);
        if (e.status === 503) throw err; // libvirt gone again: retry later
        log.warn({ err: e.message }, 'interrupted create cannot be finished; undoing it');
        this.o.journal.setStatus(op, 'undoing', e.toJSON());
      }
    }
    if (op.kind === 'create') {
      if (op.status !== 'undoing') this.o.journal.setStatus(op, 'undoing', op.error);
      await this.o.vms.removeEverything(op.vm, op.data['spec'] as VmSpec | undefined);
      this.o.journal.setStatus(op, 'undone', op.error);
      log.warn({ steps: op.steps.map((s) => s.step) }, 'interrupted create undone');
      this.o.event?.('operation.undone', 'warning', 'interrupted create undone', op.vm, this.data(op));
      this.o.vms.emit('removed', op.vm);
      return;
    }
    if (op.kind === 'delete') {
      const rec = this.o.db.get(op.vm);
      await this.o.vms.removeEverything(op.vm, rec?.spec ?? (op.data['spec'] as VmSpec | undefined));
      this.o.journal.setStatus(op, 'done');
      log.info('interrupted delete finished');
      this.o.event?.('operation.finished', 'info', 'interrupted delete finished', op.vm, this.data(op));
      this.o.vms.emit('removed', op.vm);
      return;
    }
    const settler = this.o.settlers?.[op.kind];
    if (!settler) {
      // no settler for this kind in this agent: nothing of it can be finished or undone here
      this.o.journal.setStatus(op, 'undone');
      log.warn('interrupted operation closed');
      return;
    }
    const how = await settler.settle(op, log);
    const message = `interrupted ${op.kind} ${how}`;
    if (how === 'finished') log.info({ steps: op.steps.map((s) => s.step) }, message);
    else log.warn({ steps: op.steps.map((s) => s.step) }, message);
    this.o.event?.(`operation.${how}`, how === 'finished' ? 'info' : 'warning', message, op.vm, this.data(op));
  }

  private data(op: Operation): object {
    return { op: op.id, kind: op.kind, ...(op.key ? { key: op.key } : {}), steps: op.steps.map((s) => s.step) };
  }

  /** The domain was defined with everything it needs: what is left is at most the start. */
  private canFinishCreate(op: Operation): boolean {
    if (!this.o.journal.has(op, 'define') || !this.o.db.get(op.vm)) return false;
    const wantsVolumes = Array.isArray(op.data['volumes']) && (op.data['volumes'] as unknown[]).length > 0;
    return !wantsVolumes || this.o.journal.has(op, 'volumes');
  }

  private async finishCreate(op: Operation): Promise<void> {
    const rec = this.o.db.get(op.vm)!;
    if (!(await this.o.vms.domainExists(op.vm))) await this.o.vms.redefine(rec);
    if (op.data['start'] !== false && !this.o.journal.has(op, 'start')) {
      const d = await this.o.conn.getDomain(op.vm);
      if (!d.active) await this.o.conn.startDomain(op.vm);
      this.o.journal.step(op, 'start');
    }
    const d = await this.o.conn.getDomain(op.vm);
    this.o.vms.observe(op.vm, d.state);
  }
}

/**
 * The real outcome of a command that was running under `key` when an earlier agent process ended,
 * from the journal (recovery has settled it by then): 'rerun' when it was undone or never began,
 * 'pending' while it is still being settled.
 */
export function interruptedOutcome(
  vms: VmService,
  key: string,
): { ok: boolean; result?: unknown; error?: Operation['error'] } | 'rerun' | 'pending' {
  const op = vms.journal.byKey(key);
  if (!op) return 'rerun';
  if (op.status === 'running' || op.status === 'undoing') return 'pending';
  if (op.status === 'undone' && op.kind === 'migrate-out') {
    // the VM stayed: a definitive failure of that migration (a new one is a new command)
    const message = `migration of VM ${op.vm} to ${String(op.data['target'] ?? '?')} failed: interrupted; it stays here`;
    return {
      ok: false,
      error: op.error ?? { code: 'STRATUS_ERR_MIGRATION_FAILED', message, status: 502, details: { vm: op.vm } },
    };
  }
  if (op.status === 'undone') return op.error && op.error.status < 500 ? { ok: false, error: op.error } : 'rerun';
  if (op.kind === 'delete') return { ok: true, result: { deleted: op.vm } };
  if (op.kind === 'migrate-out') {
    // moved: the VM left this host (the result's timing is unknown after a restart)
    const target = String(op.data['target'] ?? '');
    return { ok: true, result: { vm: op.vm, target, live: op.data['live'] !== false, durationMs: 0 } };
  }
  if (op.kind === 'create') {
    try {
      return { ok: true, result: vms.get(op.vm) };
    } catch {
      // created, then deleted since: running it again would bring back a deleted VM
      const message = `VM ${op.vm} was created under key ${key} and has been deleted since`;
      return { ok: false, error: { code: 'STRATUS_ERR_VM_GONE', message, status: 410, details: { id: op.vm, key } } };
    }
  }
  // a save-as whose image was then to be uploaded: the upload may not have happened; it runs again
  if (op.kind === 'save-as' && op.data['upload'] === true) return 'rerun';
  if (op.result !== undefined) return { ok: true, result: op.result };
  return 'rerun';
}
