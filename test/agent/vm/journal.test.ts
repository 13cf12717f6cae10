// tier: unit
// The operation journal on its own (in-memory SQLite, no libvirt): an older database gains the result
// column; a failure is left open for recovery when libvirt went away, 'undoing' when an undo failed,
// undone otherwise; and a key redelivered after a crash is answered from the settled operation of every
// kind (result of a finished one, definitive error of an undone one, a rerun otherwise).
import t from 'tap';
import { StratusError } from '../../../common/errors.ts';
import { migrate, openDatabase } from '../../../common/sqlite.ts';
import { LibvirtDisconnectedError } from '../../../drivers/libvirt/errors.ts';
import { OperationJournal } from '../../../agent/vm/journal.ts';
import { interruptedOutcome } from '../../../agent/vm/recovery.ts';
import type { VmService } from '../../../agent/vm/vm-service.ts';

const VM = '6f1c2a7e-1111-4222-8333-944455556666';

function journal(): OperationJournal {
  return new OperationJournal(openDatabase(':memory:'));
}

/** interruptedOutcome needs only the journal of the VM service for these kinds. */
const vmsOf = (j: OperationJournal) => ({ journal: j }) as unknown as VmService;

t.test('a database made before results were journaled gains the column and keeps its entries', async (t) => {
  const db = openDatabase(':memory:');
  migrate(db, 'operations', [
    `CREATE TABLE operations (
       id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, vm TEXT NOT NULL, key TEXT,
       status TEXT NOT NULL CHECK (status IN ('running', 'undoing', 'done', 'undone')),
       steps TEXT NOT NULL DEFAULT '[]', data TEXT NOT NULL DEFAULT '{}', error TEXT,
       started_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`,
    'CREATE INDEX operations_key ON operations (key)',
    "CREATE INDEX operations_open ON operations (status) WHERE status IN ('running', 'undoing')",
  ]);
  db.prepare(
    "INSERT INTO operations (kind, vm, key, status, started_at, updated_at) VALUES ('create', ?, 'k0', 'running', 1, 1)",
  ).run(VM);
  const j = new OperationJournal(db);
  const old = j.byKey('k0')!;
  t.equal(old.status, 'running');
  t.equal(old.result, undefined);
  j.finish(old, { ok: 1 });
  t.same(j.get(old.id)!.result, { ok: 1 });
});

t.test('fail: libvirt gone leaves the entry open, a failed undo leaves it undoing, else undone', async (t) => {
  const j = journal();
  const lost = j.begin('snapshot', VM, 'k1', { action: 'create', name: 's' });
  j.fail(lost, new LibvirtDisconnectedError('qemu:///system'));
  t.equal(j.get(lost.id)!.status, 'running', 'its effect is unknown until libvirt is back: recovery decides');

  const undo = j.begin('attach', VM, 'k2', { volumeId: 'v' });
  j.fail(undo, Object.assign(new Error('boom'), { undoFailures: [{ what: 'x', error: new Error('gone') }] }));
  t.equal(j.get(undo.id)!.status, 'undoing');
  t.equal(j.get(undo.id)!.error?.message, 'boom', 'the error is kept');

  const plain = j.begin('detach', VM, 'k3', { volumeId: 'v' });
  j.fail(plain, new StratusError('STRATUS_ERR_X', 'refused', { status: 409 }));
  t.match(j.get(plain.id), { status: 'undone', error: { code: 'STRATUS_ERR_X', status: 409 } });
  t.same(
    j.unfinished().map((o) => o.id),
    [lost.id, undo.id],
  );
});

t.test('a redelivered key gets the outcome of its settled operation, whatever its kind', async (t) => {
  const j = journal();
  const vms = vmsOf(j);
  const attached = { vmId: VM, volumeId: 'v1', device: 'vdb', serial: 's', mode: 'qemu', live: true, attachedAt: 1 };
  j.finish(j.begin('attach', VM, 'attach:1', { volumeId: 'v1' }), attached);
  t.same(interruptedOutcome(vms, 'attach:1'), { ok: true, result: attached }, 'attach: where the volume is');

  j.finish(j.begin('detach', VM, 'detach:1', { volumeId: 'v1' }), { detached: true });
  t.same(interruptedOutcome(vms, 'detach:1'), { ok: true, result: { detached: true } });

  j.finish(j.begin('snapshot', VM, 'snap:1', { action: 'revert', name: 's' }), { reverted: 's' });
  t.same(interruptedOutcome(vms, 'snap:1'), { ok: true, result: { reverted: 's' } });

  const image = { sha256: 'a'.repeat(64), name: 'golden' };
  j.finish(j.begin('save-as', VM, 'save:1', { upload: false }), image);
  t.same(interruptedOutcome(vms, 'save:1'), { ok: true, result: image });
  j.finish(j.begin('save-as', VM, 'save:2', { upload: true }), image);
  t.equal(interruptedOutcome(vms, 'save:2'), 'rerun', 'the upload after it may not have happened: it runs again');

  const refused = j.begin('snapshot', VM, 'snap:2', { action: 'create', name: 's' });
  j.setStatus(refused, 'undone', { code: 'STRATUS_ERR_SNAPSHOT_EXISTS', message: 'exists', status: 409, details: {} });
  t.match(interruptedOutcome(vms, 'snap:2'), { ok: false, error: { status: 409 } }, 'a definitive refusal');
  j.setStatus(j.begin('attach', VM, 'attach:2', {}), 'undone');
  t.equal(interruptedOutcome(vms, 'attach:2'), 'rerun', 'undone without a definitive error: it runs again');
  j.begin('detach', VM, 'detach:2', {});
  t.equal(interruptedOutcome(vms, 'detach:2'), 'pending', 'still being settled');
  t.equal(interruptedOutcome(vms, 'never'), 'rerun');
});
