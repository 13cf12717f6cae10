// The snapshot and block job bindings on libvirt's test:///default driver (fast, no daemon): create,
// list, current, revert, redefine from XML, delete, and errors for a disk with no block job.
import t from 'tap';
import { LibvirtConnection, LibvirtError } from '../../../drivers/libvirt/index.ts';

const xml = (name: string) =>
  `<domain type='test'><name>${name}</name><memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>`;

t.test('snapshots: create, list, revert, redefine from XML, delete; every pointer freed', async (t) => {
  const c = new LibvirtConnection({ uri: 'test:///default', workers: 2 });
  await c.open();
  t.teardown(() => c.close());
  const d = await c.defineDomain(xml(`snap-unit-${process.pid}`));
  await c.startDomain(d.uuid);
  const s1 = await c.createSnapshot(
    d.uuid,
    '<domainsnapshot><name>one</name><description>first</description></domainsnapshot>',
  );
  t.equal(s1.name, 'one');
  t.ok(s1.current);
  t.match(s1.xml, /<state>running<\/state>/);
  await c.destroyDomain(d.uuid);
  const s2 = await c.createSnapshot(d.uuid, '<domainsnapshot><name>two</name></domainsnapshot>');
  t.match(s2.xml, /<state>shutoff<\/state>/);
  t.same((await c.listSnapshots(d.uuid)).map((s) => [s.name, s.current]).sort(), [
    ['one', false],
    ['two', true],
  ]);
  await c.revertToSnapshot(d.uuid, 'one');
  t.equal((await c.getDomain(d.uuid)).state, 'running', 'a running snapshot reverts to running');
  t.ok((await c.getSnapshot(d.uuid, 'one')).current);
  // metadata lost and restored from the XML kept elsewhere
  const saved = (await c.getSnapshot(d.uuid, 'two')).xml;
  await c.deleteSnapshot(d.uuid, 'two'); // the test driver keeps no disk data: only metadata goes
  t.same(
    (await c.listSnapshots(d.uuid)).map((s) => s.name),
    ['one'],
  );
  await c.createSnapshot(d.uuid, saved, { redefine: true });
  t.same((await c.listSnapshots(d.uuid)).map((s) => s.name).sort(), ['one', 'two']);
  const missing = await c.getSnapshot(d.uuid, 'nope').catch((e) => e);
  t.ok(missing instanceof LibvirtError);
  t.equal(missing.virCode, 72, 'VIR_ERR_NO_DOMAIN_SNAPSHOT');
  await c.deleteSnapshot(d.uuid, 'one', { children: true });
  t.same(await c.listSnapshots(d.uuid), []);
  await c.destroyDomain(d.uuid);
  await c.undefineDomain(d.uuid);
});

t.test('block job calls reach libvirt and report its errors', async (t) => {
  const c = new LibvirtConnection({ uri: 'test:///default', workers: 1 });
  await c.open();
  t.teardown(() => c.close());
  const d = await c.defineDomain(xml(`blk-unit-${process.pid}`));
  const err = await c.blockJobInfo(d.uuid, 'vda').catch((e) => e);
  t.ok(err instanceof LibvirtError, `${err.message}`);
  const copy = await c
    .blockCopy(d.uuid, 'vda', "<disk type='file'><source file='/nonexistent'/></disk>")
    .catch((e) => e);
  t.ok(copy instanceof LibvirtError, `${copy.message}`);
  await c.undefineDomain(d.uuid);
});
