// `stratus disk` through the whole stack: CLI → controller REST (bearer token) → volume service → tgtd,
// and volume.info/attach/detach over MQTT to a real agent hot-plugging into TCG guests. A marker written
// by one VM is read by another; in-use rules give 409 (exit 5), the quota 403 (exit 6); deleting a VM
// releases its disk.
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
const dir = mkdtempSync(join(tmpdir(), 'stratus-disk-cli-'));
const text = `cli${randomUUID().slice(0, 6)}`;

t.before(async () => {
  tgtd = await startTgtd();
  c = await startController({
    extraToml: `[volumes]
iscsi_portal = "${tgtd.portal}"
iqn_prefix = "${testIqnPrefix()}"
tgt_control_port = ${tgtd.controlPort}
backing_dir = "${dir}/backing"
default_max_gib = 50
`,
  });
  agent = await c.agent('hv-vol', {
    extraToml: `[volumes]\ninitiator_name = "iqn.2024-01.org.stratus-test:hv-vol.${randomUUID().slice(0, 6)}"\n`,
  });
  // m1.small without its swap disk, so that the first volume is the guest's vdb
  await c.request('POST', '/v1/types', { name: 'vol.small', vcpus: 1, memoryMiB: 1536, diskGiB: 0, swapMiB: 0 });
  await uploadTestGuest(c, 'volguest', `stratus.dhcp=0 stratus.watch_write=${text}`);
});
t.teardown(async () => {
  await c?.cleanup();
  await tgtd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const json = async (args: string[], code = 0) => {
  const r = await c.cli([...args, '--json']);
  if (r.code !== code) throw new Error(`stratus ${args.join(' ')}: exit ${r.code} (wanted ${code}): ${r.stderr}`);
  return r.code === 0 ? JSON.parse(r.stdout) : r.stderr;
};

t.test('stratus disk: hot-plug over MQTT, a marker carried between VMs, 409s, quota, VM deletion', async (t) => {
  const disk = await json(['disk', 'create', 'data', '--size', '1', '--tag', 'e2e']);
  t.match(disk, { name: 'data', sizeGiB: 1, backend: 'iscsi', state: 'available', tags: ['e2e'] });
  const vm1 = (await json(['vm', 'create', 'vol1', '--type', 'vol.small', '--image', 'volguest', '--wait'])).items[0];
  const vm2 = (await json(['vm', 'create', 'vol2', '--type', 'vol.small', '--image', 'volguest', '--wait'])).items[0];
  await waitConsole(agent, vm1.id, /STRATUS-GUEST-READY/);
  await waitConsole(agent, vm2.id, /STRATUS-GUEST-READY/);

  const a = await json(['disk', 'attach', 'data', 'vol1']);
  t.match(a, { state: 'in-use', attachments: [{ vmId: vm1.id, hostId: 'hv-vol', device: 'vdb', state: 'attached' }] });
  await waitConsole(agent, vm1.id, new RegExp(`STRATUS-DISK-WRITTEN vdb ${text}`));

  const busy = await json(['disk', 'attach', 'data', 'vol2'], 5);
  t.match(busy, /not shareable and is attached to VM/);
  t.match(await json(['disk', 'delete', 'data'], 5), /detach it before deleting it/);
  t.match(await json(['disk', 'create', 'huge', '--size', '60'], 6), /quota exceeded/);

  const table = await c.cli(['disk', 'list']);
  t.match(table.stdout, new RegExp(`${disk.id}\\s+data\\s+1\\s+iscsi\\s+in-use\\s+${vm1.id}:vdb`));

  t.match(await json(['disk', 'detach', 'data']), { state: 'available', attachments: [] });
  await waitConsole(agent, vm1.id, /STRATUS-DISK-REMOVED vdb/);
  await json(['disk', 'attach', 'data', 'vol2']); // VMs by name too
  await waitConsole(agent, vm2.id, new RegExp(`STRATUS-DISK-MARKER vdb ${text}`));

  t.equal((await c.cli(['vm', 'delete', vm2.id])).code, 0);
  t.match(await json(['disk', 'show', 'data']), { state: 'available', attachments: [] }, 'released by the VM deletion');
  t.equal((await c.cli(['disk', 'delete', 'data'])).code, 0);
  t.same(await tgtd.tgt.targets(), [], 'no target left');
  t.equal((await c.cli(['vm', 'delete', vm1.id])).code, 0);
});
