// tier: unit
// The <disk> of an attached volume for each attach mode, device naming, and alias detection.
import t from 'tap';
import {
  diskAddress,
  hasAlias,
  nextDevice,
  usedDevices,
  volumeDiskXml,
  volumeSerial,
} from '../../../agent/volumes/disk-xml.ts';
import type { VolumeAttachment } from '../../../protocol/volume.ts';

const id = '3f1c2a9e-1b2c-4d5e-8f90-1234567890ab';
const iscsi: VolumeAttachment = {
  volumeId: id,
  readonly: false,
  shareable: false,
  source: {
    type: 'iscsi',
    portal: '192.0.2.10:3260',
    iqn: 'iqn.2024-01.org.example:volume-x',
    lun: 1,
    chap: { username: 'stratus-x', secret: 'never-in-the-xml' },
  },
};

t.test('qemu mode: a network disk with the host initiator and the CHAP secret by reference', async (t) => {
  const x = volumeDiskXml(iscsi, {
    mode: 'qemu',
    device: 'vdb',
    initiator: 'iqn.2024-01.org.example:h1',
    secretUuid: 'u-1',
  });
  t.match(x, "<disk type='network' device='disk'>");
  t.match(x, "<source protocol='iscsi' name='iqn.2024-01.org.example:volume-x/1'>");
  t.match(x, "<host name='192.0.2.10' port='3260'/>");
  t.match(x, "<iqn name='iqn.2024-01.org.example:h1'/>");
  t.match(x, "<auth username='stratus-x'>");
  t.match(x, "<secret type='iscsi' uuid='u-1'/>");
  t.match(x, "cache='none'");
  t.match(x, `<serial>${volumeSerial(id)}</serial>`);
  t.match(x, `<alias name='ua-volume-${id}'/>`);
  t.notMatch(x, 'never-in-the-xml', 'the password is never in the domain XML');
  t.notMatch(x, '<readonly/>');
  t.equal(volumeSerial(id).length, 20);
});

t.test('IPv6 portals, read-only and shareable flags', async (t) => {
  const a = { ...iscsi, readonly: true, shareable: true, source: { ...iscsi.source, portal: '[2001:db8::1]:3260' } };
  const x = volumeDiskXml(a as VolumeAttachment, {
    mode: 'qemu',
    device: 'vdc',
    initiator: 'iqn.2024-01.org.example:h1',
    secretUuid: 'u',
  });
  t.match(x, "<host name='2001:db8::1' port='3260'/>");
  t.match(x, '<readonly/>');
  t.match(x, '<shareable/>');
});

t.test('host mode: the session block device; file mode: the image with its format', async (t) => {
  const h = volumeDiskXml(iscsi, { mode: 'host', device: 'vdb', blockDevice: '/dev/sdc' });
  t.match(h, "<disk type='block' device='disk'>");
  t.match(h, "<source dev='/dev/sdc'/>");
  t.notMatch(h, 'auth');
  const f = volumeDiskXml(
    {
      volumeId: id,
      readonly: false,
      shareable: false,
      source: { type: 'file', path: "/srv/v/it's.qcow2", format: 'qcow2' },
    },
    { mode: 'file', device: 'vdb' },
  );
  t.match(f, "<driver name='qemu' type='qcow2' cache='none' io='native'/>");
  t.match(f, "<source file='/srv/v/it&apos;s.qcow2'/>", 'escaped');
});

t.test('device names: the first free virtio name after those in use; aliases found in domain XML', async (t) => {
  t.equal(nextDevice(new Set()), 'vda');
  t.equal(nextDevice(new Set(['vda', 'vdb', 'sda'])), 'vdc');
  t.equal(nextDevice(new Set('abcdefghijklmnopqrstuvwxyz'.split('').map((c) => `vd${c}`))), 'vdaa');
  const dom =
    "<disk><target dev='vda' bus='virtio'/><alias name='ua-volume-x'/></disk><disk><target dev=\"sdb\"/></disk>";
  t.same([...usedDevices(dom)], ['vda', 'sdb']);
  t.ok(hasAlias(dom, 'ua-volume-x'));
  t.notOk(hasAlias(dom, 'ua-volume-y'));
});

t.test(
  "migration: a volume disk's PCI address is read from the live XML, and only a plain address element",
  async (t) => {
    const addr = "<address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>";
    const dom = `<devices><disk type='file'><target dev='vda'/><alias name='virtio-disk0'/>
<address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/></disk>
<disk type='network'><target dev='vdb'/><alias name='ua-volume-x'/>
${addr}</disk></devices>`;
    t.equal(diskAddress(dom, 'ua-volume-x'), addr, "the volume's own address, not the root disk's");
    t.equal(diskAddress(dom, 'ua-volume-y'), undefined, 'an unknown alias has none');
    const hostile = "<disk><alias name='ua-volume-z'/><address type='pci' slot='0x07\"/><evil/>'/></disk>";
    t.equal(diskAddress(hostile, 'ua-volume-z'), undefined, 'an element with odd values is not copied');
  },
);
