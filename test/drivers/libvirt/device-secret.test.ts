// drivers/libvirt device and secret operations against the real libvirtd: secrets defined with their
// value, found by usage and UUID, never readable back, undefined; a disk attached to and detached from
// a defined domain's configuration by XML and by user alias; libvirt's errors come back typed.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { LibvirtConnection, LibvirtError, SECRET_USAGE_ISCSI } from '../../../drivers/libvirt/index.ts';
import { guestSpec } from '../../helpers/guest.ts';
import { virsh } from '../../helpers/libvirtd.ts';

const conn = new LibvirtConnection({ uri: 'qemu:///system', workers: 1 });
t.before(() => conn.open());
t.teardown(() => conn.close());

t.test('a secret is defined with its value, found by usage and UUID, kept private, and undefined', async (t) => {
  const usage = `stratus-test-${randomUUID()}`;
  const xml = `<secret ephemeral='no' private='yes'><usage type='iscsi'><target>${usage}</target></usage></secret>`;
  const s = await conn.defineSecret(xml, 'chap-password-123');
  t.match(s, { usageType: SECRET_USAGE_ISCSI, usageId: usage });
  t.same(await conn.getSecretByUsage(SECRET_USAGE_ISCSI, usage), s);
  t.same(await conn.getSecret(s.uuid), s);
  t.ok((await conn.listSecrets()).some((x) => x.uuid === s.uuid));
  t.throws(() => virsh('secret-get-value', s.uuid), 'a private secret cannot be read back');
  t.equal(await conn.undefineSecret(s.uuid), true);
  t.equal(await conn.undefineSecret(s.uuid), false, 'undefining twice is not an error');
  t.equal(await conn.getSecret(s.uuid), null);
  t.equal(await conn.getSecretByUsage(SECRET_USAGE_ISCSI, usage), null);
  const bad = await conn.defineSecret('<secret><usage type="nonsense"/></secret>', 'x').catch((e) => e);
  t.type(bad, LibvirtError);
});

t.test('a disk is attached to a defined domain by XML and detached by its alias', async (t) => {
  const spec = guestSpec({ name: 'device-ops' });
  const dom = `<domain type='qemu'><name>stratus-test-${spec.id}</name><uuid>${spec.id}</uuid>
    <memory unit='MiB'>64</memory><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>`;
  await conn.defineDomain(dom);
  t.teardown(() => conn.undefineDomain(spec.id).catch(() => undefined));
  const disk = `<disk type='file' device='disk'><driver name='qemu' type='raw'/>
    <source file='/var/cache/stratus/test-guest/disk.raw'/><target dev='vdb' bus='virtio'/>
    <alias name='ua-test-disk'/></disk>`;
  await conn.attachDevice(spec.id, disk, { live: false, config: true });
  t.match(await conn.domainXml(spec.id, { inactive: true }), /ua-test-disk/);
  const live = await conn.attachDevice(spec.id, disk, { live: true, config: false }).catch((e) => e);
  t.type(live, LibvirtError, 'no live change on a domain that does not run');
  await conn.detachDeviceAlias(spec.id, 'ua-test-disk', { live: false, config: true });
  t.notMatch(await conn.domainXml(spec.id, { inactive: true }), /ua-test-disk/);
  await conn.attachDevice(spec.id, disk, { live: false, config: true });
  await conn.detachDevice(spec.id, disk, { live: false, config: true });
  t.notMatch(await conn.domainXml(spec.id, { inactive: true }), /ua-test-disk/);
  const gone = await conn.detachDeviceAlias(randomUUID(), 'ua-x', { live: false, config: true }).catch((e) => e);
  t.equal(gone.code, 'STRATUS_ERR_LIBVIRT_NO_DOMAIN');
});
