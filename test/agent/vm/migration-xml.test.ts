// tier: unit
// The XML a migration sends: the overlays to copy are the VM's own writable file disks, and the target's
// domain keeps the machine type the source domain runs with (libvirt refuses a change of the guest ABI,
// and a restarted libvirtd reports the expanded name of the spec's alias).
import t from 'tap';
import { overlayTargets, sameAbi, sharedFileDisks } from '../../../agent/vm/migration.ts';

const source = `<domain type='qemu'>
  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/s/instances/vm1/root.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><source file='/s/images/base.qcow2'/><target dev='vdb' bus='virtio'/><readonly/></disk>
    <disk type='file' device='disk'><source file='/s/instances/vm1/ro.qcow2'/><target dev='vdc' bus='virtio'/><readonly/></disk>
    <disk type='file' device='cdrom'><source file='/s/instances/vm1/context.iso'/><target dev='sda' bus='sata'/></disk>
  </devices>
</domain>`;

t.test('only the writable overlays in the VM directory are copied', async (t) => {
  t.same(overlayTargets(source, '/s/instances/vm1'), ['vda']);
  t.same(overlayTargets(source, '/s/instances/vm2'), []);
});

t.test('writable file disks outside the VM directory are file volumes on shared storage', async (t) => {
  const withVolume = source.replace(
    '</devices>',
    "<disk type='file' device='disk'><source file='/shared/volume-1.qcow2'/><target dev='vdd' bus='virtio'/></disk></devices>",
  );
  t.same(sharedFileDisks(withVolume, '/s/instances/vm1'), ['vdd'], 'the volume; not the read-only base nor the CD-ROM');
  t.same(sharedFileDisks(source, '/s/instances/vm1'), [], 'none without a volume');
});

t.test("the target domain gets the source's machine type and CPU", async (t) => {
  const dest = "<domain><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>";
  t.equal(sameAbi(dest, source), "<domain><os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os></domain>");
  t.equal(sameAbi(dest, '<domain/>'), dest, 'unchanged when the source says nothing');
  const cpu = "<cpu mode='custom' match='exact' check='full'><model fallback='forbid'>qemu64</model></cpu>";
  const src = `<domain><os><type machine='pc-i440fx-7.2'>hvm</type></os><features/>${cpu}</domain>`;
  const withFeatures = "<domain><os><type machine='pc'>hvm</type></os><features><acpi/></features><devices/></domain>";
  t.match(sameAbi(withFeatures, src), `</features>\n  ${cpu}<devices/>`, 'a CPU the target lacks is added');
  const own = "<domain><features/><cpu mode='host-passthrough'/></domain>";
  t.equal(sameAbi(own, src), `<domain><features/>${cpu}</domain>`, "the target's CPU is replaced");
});
