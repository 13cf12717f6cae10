// Export and import of image bundles (tar with OVF, metadata JSON and disk), between two real caches.
import { Readable, Writable } from 'node:stream';
import tar from 'tar-stream';
import t from 'tap';
import { ImageBundles } from '../../../agent/images/image-bundle.ts';
import { startImageServer } from '../../helpers/image-server.ts';
import { log, makeCache, qcow2Image, sha } from '../../helpers/image-cache.ts';

const server = await startImageServer();
t.teardown(() => server.close());
const who = { actor: 'tester' };

async function exportToBuffer(b: ImageBundles, sha256: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  const out = new Writable({
    write(chunk, _e, cb) {
      parts.push(chunk as Buffer);
      cb();
    },
  });
  await b.export(sha256, out);
  return Buffer.concat(parts);
}

async function entries(bundle: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tar.extract();
  Readable.from([bundle]).pipe(ex);
  for await (const e of ex) {
    const parts: Buffer[] = [];
    for await (const c of e) parts.push(c as Buffer);
    out.set(e.header.name, Buffer.concat(parts));
  }
  return out;
}

t.test('export, then import into another host, gives the same sha256', async (t) => {
  const a = await makeCache(t);
  const b = await makeCache(t);
  const disk = qcow2Image('32M');
  server.serve('base.qcow2', { data: disk });
  const img = await a.cache.ensure({ sha256: sha(disk), url: server.url('base.qcow2'), name: 'base' }, who);
  const bundle = await exportToBuffer(new ImageBundles({ cache: a.cache, policy: a.policy, log }), img.sha256);
  const files = await entries(bundle);
  t.same([...files.keys()], ['base.ovf', 'metadata.json', 'disk.qcow2'], 'OVF first, then metadata and disk');
  t.match(files.get('base.ovf')!.toString(), /ovf:href="disk\.qcow2"/);
  t.match(JSON.parse(files.get('metadata.json')!.toString()), {
    sha256: img.sha256,
    format: 'qcow2',
    virtualSize: 32 * 1024 ** 2,
  });
  const imported = await new ImageBundles({ cache: b.cache, policy: b.policy, log }).import(
    Readable.from([bundle]),
    who,
  );
  t.equal(imported.sha256, img.sha256, 'same sha256');
  t.equal(imported.origin, 'import');
  t.equal(imported.name, 'base');
  t.equal(sha(disk), imported.sha256);
});

t.test('an import whose disk does not match its metadata is refused and nothing is kept', async (t) => {
  const a = await makeCache(t);
  const b = await makeCache(t);
  const disk = qcow2Image('8M');
  server.serve('other.qcow2', { data: disk });
  const img = await a.cache.ensure({ sha256: sha(disk), url: server.url('other.qcow2') }, who);
  const files = await entries(
    await exportToBuffer(new ImageBundles({ cache: a.cache, policy: a.policy, log }), img.sha256),
  );
  const meta = JSON.parse(files.get('metadata.json')!.toString());
  meta.sha256 = '0'.repeat(64);
  const pack = tar.pack();
  for (const [name, data] of files) pack.entry({ name }, name === 'metadata.json' ? JSON.stringify(meta) : data);
  pack.finalize();
  const err = await new ImageBundles({ cache: b.cache, policy: b.policy, log })
    .import(Readable.from(pack as unknown as AsyncIterable<Buffer>), who)
    .catch((e) => e);
  t.equal(err.code, 'STRATUS_ERR_IMAGE_CHECKSUM');
  t.equal(b.cache.inventory().length, 0);
});

t.test('an import of a denied image is refused before its disk is written, with an audit record', async (t) => {
  const a = await makeCache(t);
  const disk = qcow2Image('4M');
  server.serve('denied.qcow2', { data: disk });
  const img = await a.cache.ensure({ sha256: sha(disk), url: server.url('denied.qcow2') }, who);
  const bundle = await exportToBuffer(new ImageBundles({ cache: a.cache, policy: a.policy, log }), img.sha256);
  const b = await makeCache(t, { policy: { denyChecksums: [img.sha256] } });
  const err = await new ImageBundles({ cache: b.cache, policy: b.policy, log })
    .import(Readable.from([bundle]), { actor: 'bob' })
    .catch((e) => e);
  t.equal(err.code, 'STRATUS_ERR_IMAGE_POLICY');
  t.match(b.images.auditLog(1)[0], { actor: 'bob', stage: 'import', sha256: img.sha256, decision: 'deny' });
  t.equal(b.cache.inventory().length, 0);
});
