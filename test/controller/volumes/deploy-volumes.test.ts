// Volumes given at VM creation: the controller opens them to the host the scheduler chose, the deploy
// command carries them, the agent attaches them before the start, and the controller records where.
// Real controller, agent, tgtd and TCG guests.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { AgentHandle } from '../../helpers/agent-process.ts';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import { type ControllerHandle, startController } from '../../helpers/controller-process.ts';
import { startTgtd, type TgtdHandle, testIqnPrefix } from '../../helpers/tgtd.ts';
import { waitConsole } from '../../helpers/volumes.ts';

let tgtd: TgtdHandle;
let c: ControllerHandle;
let agent: AgentHandle;
const dir = mkdtempSync(join(tmpdir(), 'stratus-deploy-vol-'));
const text = `dv${randomUUID().slice(0, 6)}`;

t.before(async () => {
  tgtd = await startTgtd();
  c = await startController({
    extraToml: `[volumes]\niscsi_portal = "${tgtd.portal}"\niqn_prefix = "${testIqnPrefix()}"\ntgt_control_port = ${tgtd.controlPort}\nbacking_dir = "${dir}/backing"\n`,
  });
  agent = await c.agent('hv-dv', {
    extraToml: `[volumes]\ninitiator_name = "iqn.2024-01.org.stratus-test:hv-dv.${randomUUID().slice(0, 6)}"\n`,
  });
  // m1.small without its swap disk, so that the first volume is the guest's vdb
  await c.request('POST', '/v1/types', { name: 'vol.small', vcpus: 1, memoryMiB: 1536, diskGiB: 0, swapMiB: 0 });
  // at boot the guest reads the marker of its volume (vdb) and writes its own
  await uploadTestGuest(c, 'dvguest', `stratus.dhcp=0 stratus.marker_dev=/dev/vdb stratus.marker_write=${text}`);
});
t.teardown(async () => {
  await c?.cleanup();
  await tgtd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

t.test('a VM created with a volume boots with it attached; the next VM created with it reads its data', async (t) => {
  const vol = await c.request('POST', '/v1/volumes', { name: 'boot-data', sizeGiB: 1 });
  t.equal(vol.status, 201, vol.body.title ?? 'volume created');
  const id = vol.body.id as string;

  const r1 = await c.request('POST', '/v1/vms', { name: 'dv1', type: 'vol.small', image: 'dvguest', volumes: [id] });
  t.equal(r1.status, 202);
  const vm1 = r1.body.items[0];
  t.same(vm1.volumes, [id]);
  const shown = await c.cli(['vm', 'wait', vm1.id, '--json']);
  t.equal(shown.code, 0, shown.stderr);
  await waitConsole(agent, vm1.id, new RegExp(`STRATUS-MARKER-WRITTEN ${text}`));
  const boot1 = (await agent.request('GET', `/v1/vms/${vm1.id}/console`)).body as string;
  t.notMatch(boot1, /STRATUS-MARKER-FOUND/, 'a new volume carries no marker');
  const inUse = (await c.request('GET', `/v1/volumes/${id}`)).body;
  t.equal(inUse.state, 'in-use');
  t.match(
    inUse.attachments,
    [{ vmId: vm1.id, hostId: 'hv-dv', device: 'vdb', state: 'attached' }],
    'the controller knows where',
  );

  const busy = await c.request('POST', '/v1/vms', {
    name: 'dv-busy',
    type: 'vol.small',
    image: 'dvguest',
    volumes: [id],
  });
  t.equal(busy.status, 409, 'an exclusive volume in use is refused at creation');
  t.match(busy.body.title, /boot-data is in-use/);

  t.equal((await c.request('DELETE', `/v1/vms/${vm1.id}`)).status, 204);
  t.equal((await c.request('GET', `/v1/volumes/${id}`)).body.state, 'available', 'released with the VM');

  const vm2 = (await c.request('POST', '/v1/vms', { name: 'dv2', type: 'vol.small', image: 'dvguest', volumes: [id] }))
    .body.items[0];
  await waitConsole(agent, vm2.id, new RegExp(`STRATUS-MARKER-FOUND ${text}`));
  t.pass("the second VM found the first one's marker at boot");
  t.equal((await c.request('DELETE', `/v1/vms/${vm2.id}`)).status, 204);
  t.equal((await c.request('DELETE', `/v1/volumes/${id}`)).status, 204);
});

t.test('unknown and foreign volumes are refused at creation', async (t) => {
  const unknown = await c.request('POST', '/v1/vms', {
    name: 'x',
    type: 'vol.small',
    image: 'dvguest',
    volumes: [randomUUID()],
  });
  t.equal(unknown.status, 404);
  const two = await c.request('POST', '/v1/vms', {
    name: 'x',
    type: 'vol.small',
    image: 'dvguest',
    count: 2,
    volumes: [randomUUID()],
  });
  t.ok(two.status >= 400 && two.status < 500);
});
