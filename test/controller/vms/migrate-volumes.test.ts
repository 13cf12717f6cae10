// Migration of a VM with an attached iSCSI volume, in the two-host lab (docs/lab.md) with tgtd's portal on
// lab host a's address, so QEMU on both hosts reaches it: the target opens the volume before the
// switch-over (its initiator added to the export's ACL, a libvirt secret with the CHAP password), the
// guest's I/O to the volume goes on after the move with its data, and the source's access is gone; a
// failed move leaves the target nothing (no domain, no secret) and the export as it was. A volume of the
// file backend (a directory both hosts see, as a shared filesystem) is not copied: the target opens the
// same file, and the guest's I/O to it goes on.

import { mkdirSync, rmSync, statSync } from 'node:fs';
import t, { type Test } from 'tap';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import { ioRounds, type LabSite, startLabSite, withPortsRefused } from '../../helpers/lab-site.ts';
import { startTgtd, type TgtdHandle, testIqnPrefix } from '../../helpers/tgtd.ts';
import { waitFor } from '../../helpers/wait.ts';

t.setTimeout(900_000);
let site: LabSite;
let tgtd: TgtdHandle | undefined;
const initiatorOf = (h: string) => `iqn.2024-01.org.stratus-test:lab-${h}.${process.pid}`;
// the "shared filesystem" of the file backend: /tmp, which both lab hosts' mount namespaces see
const sharedDir = `/tmp/stratus-lab-shared-${process.pid}`;
mkdirSync(sharedDir, { recursive: true });

t.before(async () => {
  site = await startLabSite({
    beforeController: async (lab) => {
      tgtd = await startTgtd({ netns: lab.hosts[0]!.ns, address: lab.hosts[0]!.address });
      return `[volumes]\niscsi_portal = "${tgtd.portal}"\niqn_prefix = "${testIqnPrefix()}"\ntgt_control_port = ${tgtd.controlPort}\nfile_dir = "${sharedDir}"\n`;
    },
    agentToml: (h) => `[volumes]\ninitiator_name = "${initiatorOf(h)}"\n`,
  });
});
t.teardown(async () => {
  await site?.cleanup();
  await tgtd?.stop();
  rmSync(sharedDir, { recursive: true, force: true });
});

const other = (host: string) => site.other(host);
const letter = (host: string) => (host === site.hostIds['a'] ? 'a' : 'b');
const consoleText = (host: string, vm: string) => site.consoleText(host, vm);
const domains = (host: string) => site.domains(host);

/** The volume is recorded attached to the VM on `host`; deleting the VM makes it available again. */
async function attachedOnThenReleased(t: Test, vmId: string, volId: string, host: string): Promise<void> {
  const shown = (await site.c.request('GET', `/v1/volumes/${volId}`)).body;
  t.match(shown, { state: 'in-use', attachments: [{ vmId, hostId: host, state: 'attached' }] });
  const del = await site.c.cli(['vm', 'delete', vmId]);
  t.equal(del.code, 0, del.stderr);
  await waitFor(
    'the volume released',
    async () => (await site.c.request('GET', `/v1/volumes/${volId}`)).body.state === 'available',
    60_000,
  );
}

/** A guest of the test image with a new volume of `backend` attached and doing I/O on it (vdb). */
async function guestWithVolume(t: Test, name: string, backend: 'iscsi' | 'file') {
  const created = await site.c.cli([
    'vm',
    'create',
    name,
    '--type',
    'vol.small',
    '--image',
    'volguest',
    '--wait',
    '--json',
  ]);
  t.equal(created.code, 0, created.stderr);
  const vm: { id: string; host: string } = JSON.parse(created.stdout).items[0];
  const vol = await site.c.request('POST', '/v1/volumes', { name, sizeGiB: 1, backend });
  t.equal(vol.status, 201, JSON.stringify(vol.body));
  await waitFor('the guest ready', () => consoleText(vm.host, vm.id).includes('STRATUS-GUEST-READY'), 120_000, 250);
  const att = await site.c.request('POST', `/v1/volumes/${vol.body.id}/attach`, { vmId: vm.id });
  t.equal(att.status, 200, JSON.stringify(att.body));
  const ioCount = (host: string) => ioRounds(consoleText(host, vm.id), 'vdb', 'on-volume');
  await waitFor('I/O to the volume', () => ioCount(vm.host) >= 3, 60_000, 250);
  return { vm, vol: vol.body as { id: string; iqn?: string }, ioCount };
}

t.test(
  'a VM with an iSCSI volume moves with it; its I/O goes on; a failed move leaves the target nothing',
  async (t) => {
    await uploadTestGuest(
      site.c,
      'volguest',
      'stratus.dhcp=0 stratus.watch_write=on-volume stratus.io_probe=/dev/vdb stratus.io_probe_s=0.2',
    );
    // a type without a swap disk, so that the volume is the guest's vdb
    await site.c.request('POST', '/v1/types', { name: 'vol.small', vcpus: 1, memoryMiB: 512, diskGiB: 0, swapMiB: 0 });
    const { vm, vol, ioCount } = await guestWithVolume(t, 'volmig', 'iscsi');
    const target = async () => (await tgtd!.tgt.targets()).find((x) => x.iqn === vol.iqn || x.iqn.endsWith(vol.id));

    t.same((await target())?.acl, [initiatorOf(letter(vm.host))], 'the export names the source only');
    const secrets = async (host: string) => site.labHostOf(host).virsh('secret-list');

    // a move that fails (the target's migration ports refuse) changes nothing
    const to = other(vm.host);
    const failed = await withPortsRefused(site.lab, site.labHostOf(to), [tgtd!.iscsiPort], () =>
      site.c.cli(['vm', 'migrate', vm.id]),
    );
    t.not(failed.code, 0, 'the migration fails');
    t.match((await site.c.request('GET', `/v1/vms/${vm.id}`)).body, { state: 'running', host: vm.host });
    t.notOk((await domains(to)).includes(vm.id), 'no domain on the target');
    t.notMatch(await secrets(to), vol.id, 'no libvirt secret left on the target');
    t.same((await target())?.acl, [initiatorOf(letter(vm.host))], 'the export names the source only again');

    // the move
    const before = ioCount(vm.host);
    const from = vm.host;
    const r = await site.c.cli(['vm', 'migrate', vm.id, '--json']);
    t.equal(r.code, 0, r.stderr);
    t.match(JSON.parse(r.stdout), { from, to, live: true });
    vm.host = to;
    await waitFor('I/O to the volume on the target', () => ioCount(to) > before + 2, 60_000, 250);
    t.pass("the guest's I/O to its volume goes on after the move, its marker read back");
    t.same((await target())?.acl, [initiatorOf(letter(to))], 'the export names the target only');
    t.notMatch(await secrets(from), vol.id, "the source's secret is gone");
    t.match(await secrets(to), vol.id, 'the target holds the secret');
    await attachedOnThenReleased(t, vm.id, vol.id, to);
    t.same((await target())?.acl ?? [], [], 'nothing may log in any more');
  },
);

t.test('a VM with a file volume moves without copying it: the target opens the same file, I/O goes on', async (t) => {
  const { vm, vol, ioCount } = await guestWithVolume(t, 'filemig', 'file');
  const file = `${sharedDir}/volume-${vol.id}.qcow2`;
  const inode = statSync(file).ino;
  const from = vm.host;
  const to = other(from);
  const before = ioCount(from);
  const r = await site.c.cli(['vm', 'migrate', vm.id, '--json']);
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { from, to, live: true });
  await waitFor('I/O to the volume on the target', () => ioCount(to) > before + 2, 60_000, 250);
  t.pass("the guest's I/O to its volume goes on after the move, its marker read back");
  t.equal(statSync(file).ino, inode, 'the same file: nothing copied over it or next to it');
  t.match(await site.labHostOf(to).virsh('domblklist', vm.id), file, "the target's domain opens it");
  await attachedOnThenReleased(t, vm.id, vol.id, to);
});
