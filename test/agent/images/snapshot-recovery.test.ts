// Real libvirtd, mosquitto and agent processes SIGKILLed at journal crash points of snapshot operations
// on a stopped TCG guest with an image disk (agent/images/image-recovery.ts): a create cut before libvirt
// made the snapshot is undone and runs again under its key, one cut after is finished; a revert and a
// delete cut midway are finished. Each resent key gets the real outcome.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { qcow2Disks } from '../../../agent/images/image-recovery.ts';
import { type CrashRig, crashRig } from '../../helpers/crash-agent.ts';
import { guestSpec, testGuest } from '../../helpers/guest.ts';
import { sha } from '../../helpers/image-cache.ts';
import { startImageServer } from '../../helpers/image-server.ts';
import { virsh } from '../../helpers/libvirtd.ts';

const server = await startImageServer();
t.teardown(() => server.close());
const base = readFileSync(testGuest().disk);
server.serve('guest-disk.qcow2', { data: base });
const image = { sha256: sha(base), url: server.url('guest-disk.qcow2') };

const snapshotNames = (id: string) =>
  virsh('snapshot-list', '--name', `stratus-${id}`)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .sort();

t.test('qcow2Disks names the qcow2 files of a definition, not raw disks or CD-ROMs', async (t) => {
  const xml = `<domain><devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/i/disk0.qcow2'/><target dev='vda'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/i/raw.img'/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/i/ctx.iso'/></disk>
  </devices></domain>`;
  t.same(qcow2Disks(xml), ['/i/disk0.qcow2']);
});

t.test(
  'snapshot create, revert and delete cut by an agent crash are finished or undone; keys get the real outcome',
  async (t) => {
    const rig: CrashRig = await crashRig();
    t.teardown(() => rig.cleanup());
    await rig.start();
    const spec = guestSpec({ name: 'img-crash', disks: [{ image }] }, 'stratus.dhcp=0');
    const id = spec.id;
    // stopped: disk-only snapshots, quick under TCG (snapshots.test.ts covers memory snapshots); the
    // revert asks for a running end state
    t.equal((await rig.agent.request('POST', '/v1/vms', { spec, start: false })).status, 201);

    // create cut before libvirt was asked: undone, the resent key makes it
    const k1 = `snap:${id}:one`;
    const one = { vm: id, name: 'one' };
    t.ok(await rig.crash('snapshot:begin', 'snapshot.create', one, k1), 'killed before the snapshot');
    await rig.start();
    await rig.recovered(id);
    t.match(rig.journal(k1), { kind: 'snapshot', status: 'undone', error: undefined });
    t.same(snapshotNames(id), [], 'no snapshot');
    const r1 = await rig.result(rig.send('snapshot.create', one, k1));
    t.equal(r1.ok, true, `the resent create runs again: ${JSON.stringify(r1.error ?? '')}`);
    t.match(r1.result, { name: 'one', state: 'shutoff' });

    // create cut after libvirt made it, before the agent recorded it: finished
    const k2 = `snap:${id}:two`;
    const two = { vm: id, name: 'two', description: 'late' };
    t.ok(await rig.crash('snapshot:after-created', 'snapshot.create', two, k2), 'killed after the snapshot');
    await rig.start();
    await rig.recovered(id);
    t.match(rig.journal(k2), { kind: 'snapshot', status: 'done' }, 'recovery finished it');
    const r2 = await rig.result(rig.send('snapshot.create', two, k2));
    t.equal(r2.ok, true, `the key gets the snapshot, not "exists": ${JSON.stringify(r2.error ?? '')}`);
    t.match(r2.result, { name: 'two', description: 'late' });
    t.same(snapshotNames(id), ['one', 'two']);

    // revert to a running end state, cut after libvirt reverted: finished (desired running)
    const k3 = `revert:${id}:one`;
    const rv = { vm: id, name: 'one', state: 'running' };
    t.ok(await rig.crash('snapshot:after-reverted', 'snapshot.revert', rv, k3), 'killed after the revert');
    await rig.start();
    await rig.recovered(id);
    t.match(rig.journal(k3), { kind: 'snapshot', status: 'done' });
    t.match(virsh('domstate', `stratus-${id}`), /running/, 'the end state asked for is reached');
    t.equal((await rig.agent.request('GET', `/v1/vms/${id}`)).body.desired, 'running', 'and recorded as wanted');
    const r3 = await rig.result(rig.send('snapshot.revert', rv, k3));
    t.same(r3.result, { reverted: 'one' });

    // delete cut after libvirt removed it, before the agent forgot it: finished
    const k4 = `snapdel:${id}:two`;
    t.ok(
      await rig.crash('snapshot:after-removed', 'snapshot.delete', { vm: id, name: 'two' }, k4),
      'killed mid-delete',
    );
    await rig.start();
    await rig.recovered(id);
    t.match(rig.journal(k4), { kind: 'snapshot', status: 'done' });
    const list = (await rig.agent.request('GET', `/v1/vms/${id}/snapshots`)).body.items as { name: string }[];
    t.same(
      list.map((s) => s.name),
      ['one'],
      'gone from libvirt and from the agent',
    );
    const r4 = await rig.result(rig.send('snapshot.delete', { vm: id, name: 'two' }, k4));
    t.same(r4.result, { deleted: 'two' });
    t.equal((await rig.agent.request('DELETE', `/v1/vms/${id}/snapshots/one`)).status, 204);
  },
);
