// Volatile and swap disks end to end (controller, MQTT, a real agent, libvirtd, a TCG guest): a VM
// created with `vm create --volatile-disk` of a type with swap sees a blank disk of each size and the
// swap disk (the test guest lists its virtio disks and enables the stratus-swap one as swap), `vm show`
// lists them, the host's used disk counts root + volatile + swap, deleting the VM removes their files,
// bad sizes are a clear 400, and a VM whose disks fit no host stays pending with the disk reason.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import { startController } from '../../helpers/controller-process.ts';
import { waitFor } from '../../helpers/wait.ts';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

t.test('volatile and swap disks: seen by the guest, counted by the scheduler, deleted with the VM', async (t) => {
  const c = await startController();
  t.teardown(() => c.cleanup());
  const agent = await c.agent('hv-disks');
  await uploadTestGuest(c, 'guest', 'stratus.dhcp=0 stratus.list_disks stratus.swap');
  const type = await c.request('POST', '/v1/types', {
    name: 'dsk.tiny',
    vcpus: 1,
    memoryMiB: 192,
    diskGiB: 0,
    swapMiB: 64,
  });
  t.equal(type.status, 201, type.body.title ?? 'type with 64 MiB of swap');

  // bad sizes and counts: 400 with the field named, nothing created
  const base = { name: 'bad', type: 'dsk.tiny', image: 'guest' };
  for (const [volatileDisksGiB, what] of [
    [[0], 'a zero size'],
    [[4097], 'more than 4096 GiB'],
    [[1.5], 'a fraction'],
    [Array(9).fill(1), 'nine disks'],
  ] as const) {
    const r = await c.request('POST', '/v1/vms', { ...base, volatileDisksGiB });
    t.equal(r.status, 400, `${what}: 400`);
    t.match(JSON.stringify(r.body), /volatileDisksGiB/, `${what}: the field is named`);
  }
  const cliBad = await c.cli(['vm', 'create', 'bad', '--type', 'dsk.tiny', '--image', 'guest', '--volatile-disk', 'x']);
  t.not(cliBad.code, 0);
  t.match(cliBad.stderr, /--volatile-disk must be a whole number of GiB from 1 to 4096/);
  t.same((await c.request('GET', '/v1/vms')).body.items, [], 'no VM was created by bad requests');

  const created = await c.cli([
    'vm',
    'create',
    'dvm',
    '--type',
    'dsk.tiny',
    '--image',
    'guest',
    '--volatile-disk',
    '1',
    '--volatile-disk',
    '2',
    '--json',
  ]);
  t.equal(created.code, 0, created.stderr);
  const id = JSON.parse(created.stdout).items[0].id as string;
  let last = '';
  await waitFor(
    'dvm running',
    async () => {
      const v = (await c.request('GET', `/v1/vms/${id}`)).body;
      last = `${v.state}: ${v.reason}`;
      if (v.state === 'failed') throw new Error(`dvm failed: ${v.reason}`);
      return v.state === 'running' ? true : undefined;
    },
    240_000,
    500,
  ).catch((err) => {
    throw new Error(`${(err as Error).message} (last: ${last})\n${c.output().slice(-3000)}`);
  });

  const out = await waitFor(
    'the guest to list its disks',
    async () => {
      const r = await c.cli(['vm', 'console', id]);
      return r.code === 0 && /STRATUS-GUEST-READY/.test(r.stdout) ? r.stdout : undefined;
    },
    240_000,
    1000,
  );
  t.match(out, /^STRATUS-BLOCK vda sectors=32768 ro=0 serial=-\r?$/m, 'vda: the 16 MiB root overlay');
  t.match(out, /^STRATUS-BLOCK vdb sectors=2097152 ro=0 serial=stratus-volatile-1\r?$/m, 'vdb: 1 GiB volatile');
  t.match(out, /^STRATUS-BLOCK vdc sectors=4194304 ro=0 serial=stratus-volatile-2\r?$/m, 'vdc: 2 GiB volatile');
  t.match(out, /^STRATUS-BLOCK vdd sectors=131072 ro=0 serial=stratus-swap\r?$/m, 'vdd: the 64 MiB swap disk');
  t.match(out, /^STRATUS-SWAP vdd on \d+\r?$/m, 'the guest made the swap disk its swap');

  const show = await c.cli(['vm', 'show', id]);
  t.equal(show.code, 0, show.stderr);
  t.match(show.stdout, /^ {2}vdb {2}volatile +1 GiB +serial stratus-volatile-1$/m, 'vm show lists the volatile disk');
  t.match(show.stdout, /^ {2}vdd {2}swap +64 MiB +serial stratus-swap$/m, 'vm show lists the swap disk');
  const files = join(agent.dir, 'state/instances', id);
  t.same(readdirSync(files).sort(), ['disk0.qcow2', 'disk1.qcow2', 'disk2.qcow2', 'disk3.qcow2']);

  const hostView = (await c.request('GET', '/v1/hosts/hv-disks')).body;
  t.ok(hostView.diskBytes > 0, 'the agent reports its instance disk');
  t.equal(hostView.usedDiskBytes, 16 * MiB + 3 * GiB + 64 * MiB, 'root (image virtual size) + volatile + swap');

  // 8 × 4096 GiB of volatile disks fit on no test host: pending, with the disk reason
  const big = await c.request('POST', '/v1/vms', {
    name: 'too-big',
    type: 'dsk.tiny',
    image: 'guest',
    volatileDisksGiB: Array(8).fill(4096),
  });
  t.equal(big.status, 202, big.body.title ?? 'accepted');
  const bigId = big.body.items[0].id as string;
  const reason = await waitFor(
    'the disk reason',
    async () => {
      const v = (await c.request('GET', `/v1/vms/${bigId}`)).body;
      return /disk/.test(v.reason) ? `${v.state}: ${v.reason}` : undefined;
    },
    30_000,
    200,
  );
  t.match(
    reason,
    /^pending: no host fits: 1 host short of disk: needs 32768\.\d GiB, host has [\d.]+ GiB free$/,
    'pending, and why',
  );
  t.equal((await c.cli(['vm', 'delete', bigId])).code, 0);

  t.equal((await c.cli(['vm', 'delete', id])).code, 0);
  await waitFor(
    'dvm deleted and its disks gone',
    async () => {
      const v = await c.request('GET', `/v1/vms/${id}`);
      return v.status === 404 && !existsSync(files) ? true : undefined;
    },
    60_000,
    250,
  );
  t.pass('the volatile and swap disks were deleted with the VM');
  t.equal((await c.request('GET', '/v1/hosts/hv-disks')).body.usedDiskBytes, 0, 'the host has its disk back');
});
