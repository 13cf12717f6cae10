// Real libvirtd, mosquitto and agent processes SIGKILLed at journal crash points of snapshot and save-as
// operations on a TCG guest booted from a cached image: a snapshot create cut before libvirt made it is
// undone and runs again under its key, one cut after is finished; a revert and a delete cut midway are
// finished; a live save-as cut while its block copy runs is undone (no copy job left mirroring the
// VM's disk, no image), one cut after the image was admitted is finished. Each resent key gets the
// real outcome.
import { execFileSync } from 'node:child_process';
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

function blockJob(id: string): string {
  return execFileSync('virsh', ['-c', 'qemu:///system', 'blockjob', `stratus-${id}`, 'vda', '--info'], {
    encoding: 'utf8',
  }).trim();
}

t.test('qcow2Disks names the qcow2 files of a definition, not raw disks or CD-ROMs', async (t) => {
  const xml = `<domain><devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/i/disk0.qcow2'/><target dev='vda'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/i/raw.img'/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/i/ctx.iso'/></disk>
  </devices></domain>`;
  t.same(qcow2Disks(xml), ['/i/disk0.qcow2']);
});

t.test('snapshot and save-as cut by an agent crash are finished or undone; keys get the real outcome', async (t) => {
  const rig: CrashRig = await crashRig();
  t.teardown(() => rig.cleanup());
  await rig.start();
  const spec = guestSpec({ name: 'img-crash', disks: [{ image }] }, 'stratus.dhcp=0');
  const id = spec.id;
  t.equal((await rig.agent.request('POST', '/v1/vms', { spec })).status, 201);

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
  t.match(r1.result, { name: 'one', state: 'running' });

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

  // revert to a stopped end state, cut after libvirt reverted: finished (powered off, desired stopped)
  const k3 = `revert:${id}:one`;
  const rv = { vm: id, name: 'one', state: 'stopped' };
  t.ok(await rig.crash('snapshot:after-reverted', 'snapshot.revert', rv, k3), 'killed after the revert');
  await rig.start();
  await rig.recovered(id);
  t.match(rig.journal(k3), { kind: 'snapshot', status: 'done' });
  t.match(virsh('domstate', `stratus-${id}`), /shut off/, 'the end state asked for is reached');
  t.equal((await rig.agent.request('GET', `/v1/vms/${id}`)).body.desired, 'stopped');
  const r3 = await rig.result(rig.send('snapshot.revert', rv, k3));
  t.same(r3.result, { reverted: 'one' });

  // delete cut after libvirt removed it, before the agent forgot it: finished
  const k4 = `snapdel:${id}:two`;
  t.ok(await rig.crash('snapshot:after-removed', 'snapshot.delete', { vm: id, name: 'two' }, k4), 'killed mid-delete');
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

  // live save-as cut while the block copy runs: the job is aborted, no image; the resent key runs again
  t.equal((await rig.agent.request('POST', `/v1/vms/${id}/start`, {})).status, 200);
  const k5 = `save:${id}:live`;
  const save = { vm: id, name: 'golden' };
  t.ok(await rig.crash('save-as:after-copy-started', 'save-as', save, k5), 'killed during the copy');
  t.match(blockJob(id), /copy|mirror/i, 'the crash left the copy job running');
  await rig.start();
  await rig.recovered(id);
  t.match(rig.journal(k5), { kind: 'save-as', status: 'undone', error: undefined });
  t.notMatch(blockJob(id), /copy|mirror/i, 'no copy job left on the disk');
  const images = (await rig.agent.request('GET', '/v1/images')).body.items as { origin: string }[];
  t.notOk(
    images.some((i) => i.origin === 'save-as'),
    'no saved image',
  );
  const r5 = await rig.result(rig.send('save-as', save, k5), 120_000);
  t.equal(r5.ok, true, `the resent save-as runs again: ${JSON.stringify(r5.error ?? '')}`);
  t.match(r5.result, { origin: 'save-as', name: 'golden' });

  // save-as of the stopped VM cut after the image was admitted: finished, the key gets the image
  t.equal((await rig.agent.request('POST', `/v1/vms/${id}/stop`, { force: true })).status, 200);
  const k6 = `save:${id}:cold`;
  const cold = { vm: id, name: 'cold' };
  t.ok(await rig.crash('save-as:after-admitted', 'save-as', cold, k6), 'killed after the admission');
  await rig.start();
  await rig.recovered(id);
  t.match(rig.journal(k6), { kind: 'save-as', status: 'done' });
  const r6 = await rig.result(rig.send('save-as', cold, k6));
  t.equal(r6.ok, true, JSON.stringify(r6.error ?? ''));
  t.match(r6.result, { origin: 'save-as' });
  t.equal((await rig.agent.request('GET', `/v1/images/${r6.result.sha256}`)).status, 200, 'the image is in the cache');
  for (const s of [r5.result.sha256, r6.result.sha256]) await rig.agent.request('DELETE', `/v1/images/${s}`);
});
