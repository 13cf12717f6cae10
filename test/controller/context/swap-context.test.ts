// tier: unit
// The swap disk in the context: with a swap device, Stratus's #cloud-config asks cloud-init to make it
// a swap area (fs_setup) and enable it (mounts), the user's own data then travels beside it in a MIME
// multipart message (unchanged), and the OpenNebula context names the device; without one, the user's
// data reaches the guest exactly as written.
import t from 'tap';
import { parse } from 'yaml';
import { contextVariables } from '../../../controller/context/opennebula.ts';
import { composeUserData } from '../../../controller/context/user-data.ts';
import { SWAP_DEVICE } from '../../../controller/vms/vm-disks.ts';
import type { ContextRequest } from '../../../protocol/context.ts';

const req = (over: Partial<ContextRequest> = {}): ContextRequest => ({
  vmId: '6f1f0b3e-4d7c-4f7e-9a37-0c8a1d1f2b3c',
  flavour: 'nocloud',
  hostname: 'web1',
  setHostname: true,
  sshPublicKeys: [],
  addressing: 'static',
  variables: {},
  ...over,
});

t.test("a swap device: cloud-init formats and enables the type's swap disk", async (t) => {
  t.equal(SWAP_DEVICE, '/dev/disk/by-id/virtio-stratus-swap', 'the by-id name of the stratus-swap serial');
  const ud = parse(composeUserData(req({ swapDevice: SWAP_DEVICE })));
  t.same(ud.fs_setup, [{ device: SWAP_DEVICE, filesystem: 'swap' }]);
  t.same(ud.mounts, [[SWAP_DEVICE, 'none', 'swap', 'sw', '0', '0']]);
  t.notOk(parse(composeUserData(req())).fs_setup, 'no swap device, no fs_setup');
});

t.test("the user's data travels beside the swap config, unchanged; without swap it is sent as written", async (t) => {
  const mine = '#cloud-config\nruncmd: [["echo", "mine"]]\n';
  t.equal(composeUserData(req({ userData: mine })), mine, 'nothing to add: exactly as written');
  const both = composeUserData(req({ userData: mine, swapDevice: SWAP_DEVICE }));
  t.match(both, /^Content-Type: multipart\/mixed; boundary="stratus-[0-9a-f]+"\n/);
  t.match(both, /#cloud-config\nhostname: "web1"\nfs_setup:\n {2}- device: "\/dev\/disk\/by-id\/virtio-stratus-swap"/);
  t.ok(both.includes(`\n\n${mine}`), "the user's part unchanged");
});

t.test('the OpenNebula context names the swap device and carries the cloud-config', async (t) => {
  const vars = new Map(contextVariables(req({ flavour: 'opennebula', swapDevice: SWAP_DEVICE }), []));
  t.equal(vars.get('STRATUS_SWAP_DEVICE'), SWAP_DEVICE);
  t.match(vars.get('USER_DATA'), /mounts:\n {2}- \["\/dev\/disk\/by-id\/virtio-stratus-swap", "none", "swap"/);
  const none = new Map(contextVariables(req({ flavour: 'opennebula' }), []));
  t.notOk(none.has('STRATUS_SWAP_DEVICE'), 'a type without swap names none');
  t.notOk(none.has('USER_DATA'));
});
