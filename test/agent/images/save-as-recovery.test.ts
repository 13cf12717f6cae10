// Real libvirtd, mosquitto and agent processes SIGKILLed at journal crash points of save-as on a TCG
// guest booted from a cached image (agent/images/image-recovery.ts): a live save-as cut while its block
// copy runs is undone (no copy job left mirroring the VM's disk, no image) and runs again under its
// key; one cut after the image was admitted is finished and the key gets the image.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { type CrashRig, crashRig } from '../../helpers/crash-agent.ts';
import { guestSpec, testGuest } from '../../helpers/guest.ts';
import { sha } from '../../helpers/image-cache.ts';
import { startImageServer } from '../../helpers/image-server.ts';

const server = await startImageServer();
t.teardown(() => server.close());
const base = readFileSync(testGuest().disk);
server.serve('guest-disk.qcow2', { data: base });
const image = { sha256: sha(base), url: server.url('guest-disk.qcow2') };

/** `virsh blockjob --info` of the VM's first disk (virsh prints the progress on either stream). */
function blockJob(id: string): string {
  const r = spawnSync('virsh', ['-c', 'qemu:///system', 'blockjob', `stratus-${id}`, 'vda', '--info'], {
    encoding: 'utf8',
  });
  return `${r.stdout}${r.stderr}`.trim();
}

t.test('save-as cut by an agent crash is finished or undone; the key gets the real outcome', async (t) => {
  const rig: CrashRig = await crashRig();
  t.teardown(() => rig.cleanup());
  await rig.start();
  const spec = guestSpec({ name: 'save-crash', disks: [{ image }] }, 'stratus.dhcp=0');
  const id = spec.id;
  t.equal((await rig.agent.request('POST', '/v1/vms', { spec })).status, 201);

  // live save-as cut while the block copy runs: the job is aborted, no image; the resent key runs again
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
  // (an unchanged disk flattens to its base image: the cache answers the image it already had)
  t.match(r6.result, { sha256: /^[0-9a-f]{64}$/, format: 'qcow2' });
  t.equal((await rig.agent.request('GET', `/v1/images/${r6.result.sha256}`)).status, 200, 'the image is in the cache');
  t.equal((await rig.agent.request('DELETE', `/v1/images/${r5.result.sha256}`)).status, 204);
});
