// tier: unit
// VM views with the fields other features add: each extra reads a whole list at once (one query per
// table for 1,000 VMs) and gives every VM what it gives the VM alone; the context summary is kept beside
// the context, so a list parses no user data, and rows from before the summary are still summarized.
import t, { type Test } from 'tap';
import { openDatabase } from '../../../common/sqlite.ts';
import { VmContextStore } from '../../../controller/context/vm-context.ts';
import type { KeyStore } from '../../../controller/keys/store.ts';
import { ExtraDisks } from '../../../controller/vms/extra-disks.ts';
import { type VmViewExtra, vmViews } from '../../../controller/vms/routes.ts';
import { VmStore } from '../../../controller/vms/store.ts';
import { pendingVm } from '../../helpers/vm-records.ts';

function fresh(t: Test) {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  return { db, vms: new VmStore(db), contexts: new VmContextStore(db, {} as KeyStore, () => 'nocloud') };
}

const ctx = {
  method: 'nocloud' as const,
  keys: [{ name: 'laptop', type: 'ssh-ed25519', fingerprint: 'SHA256:abc', publicKey: 'ssh-ed25519 AAAA' }],
  userData: `#cloud-config\n${'x'.repeat(1000)}`,
  startScript: 'echo hello',
  variables: { B_VAR: '2', A_VAR: '1' },
};

t.test('every extra is asked once per list, and each VM gets its own fields', async (t) => {
  const { vms } = fresh(t);
  const list = [pendingVm(vms, 'a'), pendingVm(vms, 'b'), pendingVm(vms, 'c')];
  const asked: number[] = [];
  const extra: VmViewExtra = (batch) => {
    asked.push(batch.length);
    return (vm) => ({ tag: `tag-${vm.name}` });
  };
  const views = vmViews(list, [extra, () => () => ({ more: 1 })]);
  t.same(asked, [3], 'one call for the three VMs');
  t.same(
    views.map((v) => [v.name, v['tag'], v['more']]),
    [
      ['a', 'tag-a', 1],
      ['b', 'tag-b', 1],
      ['c', 'tag-c', 1],
    ],
  );
});

t.test('context summaries of many VMs: sizes and names, never contents; one VM alone gets the same', async (t) => {
  const { vms, contexts } = fresh(t);
  const [a, b, none] = [pendingVm(vms, 'a'), pendingVm(vms, 'b'), pendingVm(vms, 'none')];
  contexts.save([a.id, b.id], ctx);
  const views = contexts.views([a.id, b.id, none.id]);
  t.same(views.get(a.id), {
    method: 'nocloud',
    loginUser: null,
    keys: [{ name: 'laptop', type: 'ssh-ed25519', fingerprint: 'SHA256:abc' }],
    userDataBytes: ctx.userData.length,
    startScriptBytes: 10,
    variables: ['A_VAR', 'B_VAR'],
  });
  t.notOk(JSON.stringify(views.get(a.id)).includes('xxxx'), 'no user data in the summary');
  t.same(views.get(b.id), views.get(a.id));
  t.notOk(views.has(none.id), 'a VM without a context has no summary');
  t.same(contexts.view(a.id), views.get(a.id));
  t.same(contexts.views([]).size, 0);
});

t.test('a context stored before summaries were kept is summarized from the context itself', async (t) => {
  const { db, vms, contexts } = fresh(t);
  const old = pendingVm(vms, 'old');
  db.prepare('INSERT INTO vm_context (vm_id, context) VALUES (?, ?)').run(old.id, JSON.stringify(ctx));
  const fresh2 = pendingVm(vms, 'new');
  contexts.save([fresh2.id], ctx);
  const views = contexts.views([old.id, fresh2.id]);
  t.same(views.get(old.id), views.get(fresh2.id), 'the same summary either way');
  t.equal(views.get(old.id)?.userDataBytes, ctx.userData.length);
});

t.test('the extra disks of many VMs come in one call, in their order', async (t) => {
  const { db, vms } = fresh(t);
  const disks = new ExtraDisks(db, {} as never, {} as never);
  const [a, b, none] = [pendingVm(vms, 'a'), pendingVm(vms, 'b'), pendingVm(vms, 'none')];
  const ins = db.prepare('INSERT INTO vm_extra_disks (vm_id, position, image_id, readonly) VALUES (?, ?, ?, 1)');
  ins.run(a.id, 1, 'img-second');
  ins.run(a.id, 0, 'img-first');
  ins.run(b.id, 0, 'img-b');
  const many = disks.ofMany([a.id, b.id, none.id]);
  t.same(many.get(a.id), ['img-first', 'img-second']);
  t.same(many.get(b.id), ['img-b']);
  t.notOk(many.has(none.id));
  t.same(disks.of(a.id), ['img-first', 'img-second'], 'one VM alone gets the same');
  t.same(disks.of(none.id), []);
});
