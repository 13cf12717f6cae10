// Volumes end to end on real daemons: a private tgtd, the controller's volume service, a real agent
// and TCG guests that read and write the disk. Hot-plug and hot-unplug seen from inside the guest, a
// marker carried from one VM to another, deploy-time attachment, and failed attachments that leave
// nothing behind (no libvirt secret, no device, no record, no session).
import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { VmPlacement } from '../../../controller/volumes/ports.ts';
import type { Volume } from '../../../protocol/volume.ts';
import { type AgentHandle, startAgent } from '../../helpers/agent-process.ts';
import { guestSpec } from '../../helpers/guest.ts';
import { virsh } from '../../helpers/libvirtd.ts';
import { startTgtd, type TgtdHandle } from '../../helpers/tgtd.ts';
import { agentApiHosts, HOST, startVolumeWorld, type VolumeWorld, waitConsole } from '../../helpers/volumes.ts';

const OWNER = 'alice';
const initiator = `iqn.2024-01.org.stratus-test:host.${randomUUID().slice(0, 8)}`;
const vms = new Map<string, VmPlacement>();
let tgtd: TgtdHandle;
let agent: AgentHandle;
let world: VolumeWorld;
const created: string[] = [];

t.before(async () => {
  tgtd = await startTgtd();
  agent = await startAgent({ extraToml: `[volumes]\ninitiator_name = "${initiator}"\ndetach_timeout_s = 20\n` });
  await agent.waitReady();
  world = await startVolumeWorld({ tgtd, hosts: agentApiHosts(() => agent, vms) });
});
t.teardown(async () => {
  for (const id of created) await agent.request('DELETE', `/v1/vms/${id}`).catch(() => undefined);
  await agent?.cleanup();
  await world?.cleanup();
  await tgtd?.stop();
});

const svc = () => world.feature.service;
const marker = () => `m${randomUUID().slice(0, 8)}`;
const newVolume = (name: string, extra: Partial<{ shareable: boolean; readonly: boolean }> = {}) =>
  svc().create({ name, sizeGiB: 1, shareable: false, readonly: false, tags: [], ...extra }, OWNER);

async function bootVm(name: string, cmdline: string, volumes?: unknown[]): Promise<string> {
  const spec = guestSpec({ name }, `stratus.dhcp=0 ${cmdline}`);
  const r = await agent.request('POST', '/v1/vms', { spec, ...(volumes ? { volumes } : {}) });
  if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  created.push(spec.id);
  vms.set(spec.id, { id: spec.id, ownerId: OWNER, hostId: HOST, state: 'running' });
  await waitConsole(agent, spec.id, /STRATUS-GUEST-READY/);
  return spec.id;
}

/** Everything an attachment of `volumeId` to `vmId` could have left on this host. */
async function leftovers(vmId: string, volumeId: string) {
  const secrets = virsh('secret-list')
    .split('\n')
    .filter((l) => l.includes(`stratus-volume-${volumeId}-vm-${vmId}`));
  const alias = `ua-volume-${volumeId}`;
  const live = virsh('dumpxml', `stratus-${vmId}`).includes(alias);
  const config = virsh('dumpxml', '--inactive', `stratus-${vmId}`).includes(alias);
  const records = (await agent.request('GET', `/v1/vms/${vmId}/volumes`)).body.items as unknown[];
  const iqn = world.feature.store.get(volumeId)?.iqn;
  const sessions = (await tgtd.tgt.targets()).filter((x) => x.iqn === iqn).flatMap((x) => x.sessions);
  return { secrets, live, config, records, sessions };
}

t.test(
  'hot-plug: a guest sees the disk arrive, writes a marker, sees it leave; a second VM reads the marker',
  async (t) => {
    const text = marker();
    const vol = await newVolume('carry');
    const writer = await bootVm('writer', `stratus.watch_write=${text}`);
    const reader = await bootVm('reader', 'stratus.watch_disks');

    const attached = await svc().attach(vol.id, writer, OWNER);
    t.equal(attached.state, 'in-use');
    t.match(attached.attachments, [{ vmId: writer, hostId: HOST, state: 'attached', device: 'vda', mode: 'qemu' }]);
    await waitConsole(agent, writer, /STRATUS-DISK-ADDED vda\r?$/m);
    await waitConsole(agent, writer, new RegExp(`STRATUS-DISK-WRITTEN vda ${text}\\r?$`, 'm'));

    const detached = await svc().detach(vol.id, undefined, OWNER);
    t.equal(detached.state, 'available');
    t.same(detached.attachments, []);
    await waitConsole(agent, writer, /STRATUS-DISK-REMOVED vda\r?$/m);
    t.same(await leftovers(writer, vol.id), { secrets: [], live: false, config: false, records: [], sessions: [] });

    await svc().attach(vol.id, reader, OWNER);
    await waitConsole(agent, reader, new RegExp(`STRATUS-DISK-MARKER vda ${text}\\r?$`, 'm'));
    await svc().detach(vol.id, reader, OWNER);
    await waitConsole(agent, reader, /STRATUS-DISK-REMOVED vda\r?$/m);
  },
);

t.test(
  'deploy-time attachment: the guest boots with the volume and reads its marker; deleting the VM frees it',
  async (t) => {
    const text = marker();
    const vol = await newVolume('boot');
    // write the marker through a first VM
    const w = await bootVm('boot-writer', `stratus.watch_write=${text}`);
    await svc().attach(vol.id, w, OWNER);
    await waitConsole(agent, w, new RegExp(`STRATUS-DISK-WRITTEN vda ${text}`));
    await svc().detach(vol.id, w, OWNER);

    const id = randomUUID();
    const attachments = await svc().prepareDeploy(id, HOST, [vol.id], OWNER);
    t.equal(svc().get(vol.id).state, 'attaching');
    const spec = guestSpec({ id, name: 'deployed' }, 'stratus.dhcp=0 stratus.marker_read');
    const r = await agent.request('POST', '/v1/vms', { spec, volumes: attachments });
    t.equal(r.status, 201, JSON.stringify(r.body));
    created.push(id);
    vms.set(id, { id, ownerId: OWNER, hostId: HOST, state: 'running' });
    svc().confirmDeploy(id, (await agent.request('GET', `/v1/vms/${id}/volumes`)).body.items);
    t.match(svc().get(vol.id), { state: 'in-use', attachments: [{ vmId: id, device: 'vda', state: 'attached' }] });
    await waitConsole(agent, id, new RegExp(`STRATUS-MARKER-FOUND ${text}\\r?$`, 'm'));
    t.ok(
      virsh('dumpxml', '--inactive', `stratus-${id}`).includes(`ua-volume-${vol.id}`),
      'in the persistent definition',
    );

    t.equal((await agent.request('DELETE', `/v1/vms/${id}`)).status, 204);
    t.same(
      virsh('secret-list')
        .split('\n')
        .filter((l) => l.includes(vol.id)),
      [],
      'the VM deletion released its libvirt secret',
    );
    t.same(await svc().releaseVm(id), [vol.id]);
    t.match(svc().get(vol.id), { state: 'available', attachments: [] });
  },
);

t.test('a wrong CHAP secret: the attach fails with a clear message and leaves nothing behind', async (t) => {
  const vol = await newVolume('badchap');
  const vm = await bootVm('badchap', 'stratus.watch_disks');
  const rec = world.feature.store.get(vol.id)!;
  await world.feature.iscsi.setAccess(rec, [initiator]); // the target lets this host in: only CHAP is wrong
  const good = svc().attachmentFor(rec);
  const bad = { ...good, source: { ...good.source, chap: { username: rec.chapUser!, secret: 'wrongwrongwrong1' } } };

  const r = await agent.request('POST', `/v1/vms/${vm}/volumes`, bad);
  t.equal(r.status, 502);
  t.equal(r.body.code, 'STRATUS_ERR_VOLUME_AUTH');
  t.match(r.body.title, /refused the CHAP credentials/);
  t.same(
    await leftovers(vm, vol.id),
    { secrets: [], live: false, config: false, records: [], sessions: [] },
    'nothing left',
  );

  // the same at deploy time: the VM is not created at all, and its secret is gone too
  const id = randomUUID();
  const spec = guestSpec({ id, name: 'badchap-deploy' }, 'stratus.dhcp=0');
  const d = await agent.request('POST', '/v1/vms', { spec, volumes: [bad] });
  t.equal(d.status, 502, JSON.stringify(d.body));
  t.equal(d.body.code, 'STRATUS_ERR_VOLUME_AUTH');
  t.match(d.body.title, new RegExp(`cannot attach volume ${vol.id} .*refused the CHAP credentials`));
  t.equal((await agent.request('GET', `/v1/vms/${id}`)).status, 404);
  t.throws(() => virsh('dominfo', `stratus-${id}`), 'no domain left');
  t.notOk(virsh('secret-list').includes(vol.id), 'no secret left');

  // and a host the target does not name gets a clear refusal as well
  await world.feature.iscsi.setAccess(rec, []);
  const denied = await agent.request('POST', `/v1/vms/${vm}/volumes`, good);
  t.equal(denied.status, 502);
  t.equal(denied.body.code, 'STRATUS_ERR_VOLUME_ACCESS', denied.body.title);
  t.same(await leftovers(vm, vol.id), { secrets: [], live: false, config: false, records: [], sessions: [] });
  t.equal(svc().get(vol.id).state, 'available');
});

t.test('a read-only volume is read-only in the guest and at the target', async (t) => {
  const vol: Volume = await newVolume('ro', { readonly: true });
  const vm = await bootVm('ro', 'stratus.watch_write=nope');
  await svc().attach(vol.id, vm, OWNER);
  await waitConsole(agent, vm, /STRATUS-DISK-ERROR write vda\r?$/m);
  t.ok(virsh('dumpxml', `stratus-${vm}`).includes('<readonly/>'));
  t.ok((await tgtd.tgt.targets()).find((x) => x.iqn === vol.iqn)?.luns.find((l) => l.lun === 1)?.readonly);
  await svc().detach(vol.id, vm, OWNER);
});

t.test('the file backend: a qcow2 image on the shared directory, hot-plugged like the others', async (t) => {
  const text = marker();
  const vol = await svc().create(
    { name: 'shared-file', sizeGiB: 1, backend: 'file', shareable: false, readonly: false, tags: [] },
    OWNER,
  );
  t.match(vol, { backend: 'file', format: 'qcow2', state: 'available' });
  const vm = await bootVm('file', `stratus.watch_write=${text}`);
  const a = await svc().attach(vol.id, vm, OWNER);
  t.match(a.attachments, [{ mode: 'file', device: 'vda' }]);
  await waitConsole(agent, vm, new RegExp(`STRATUS-DISK-WRITTEN vda ${text}`));
  await svc().detach(vol.id, vm, OWNER);
  await svc().delete(vol.id, OWNER);
  t.equal(
    svc()
      .list(OWNER)
      .filter((v) => v.id === vol.id).length,
    0,
  );
});

t.test(
  'a shareable volume on two running VMs of one host: both sessions live, the second reads what the first wrote',
  async (t) => {
    const text = marker();
    const vol = await newVolume('both', { shareable: true });
    const a = await bootVm('share-a', `stratus.watch_write=${text}`);
    const b = await bootVm('share-b', 'stratus.watch_disks');
    await svc().attach(vol.id, a, OWNER);
    await waitConsole(agent, a, new RegExp(`STRATUS-DISK-WRITTEN vda ${text}`));
    const both = await svc().attach(vol.id, b, OWNER);
    t.equal(both.attachments.length, 2);
    await waitConsole(agent, b, new RegExp(`STRATUS-DISK-MARKER vda ${text}`));
    t.ok(virsh('dumpxml', `stratus-${b}`).includes('<shareable/>'));
    const sessions = (await tgtd.tgt.targets()).find((x) => x.iqn === vol.iqn)?.sessions ?? [];
    t.equal(sessions.length, 2, 'one iSCSI session per QEMU, same initiator name');
    await svc().detach(vol.id, a, OWNER);
    t.match(svc().get(vol.id), { state: 'in-use', attachments: [{ vmId: b }] });
    await svc().detach(vol.id, b, OWNER);
    t.equal(svc().get(vol.id).state, 'available');
  },
);
