// The image cache against a real HTTP server and real qemu-img: verification, resume, single-flight,
// hostile images, packaging (gz, xz, OVA), quota eviction that spares bases in use, and the policy.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import t from 'tap';
import { startImageServer } from '../../helpers/image-server.ts';
import { makeCache, qcow2Image, qemuImgFile, rawImage, sha } from '../../helpers/image-cache.ts';

const server = await startImageServer();
t.teardown(() => server.close());
const who = { actor: 'tester' };

t.test('a checksum mismatch is refused with both digests named; no temp file, nothing cached', async (t) => {
  const { cache } = await makeCache(t);
  const data = rawImage(300_000);
  server.serve('mismatch.img', { data });
  const wrong = 'f'.repeat(64);
  const err = await cache.ensure({ sha256: wrong, url: server.url('mismatch.img') }, who).catch((e) => e);
  t.equal(err.code, 'STRATUS_ERR_IMAGE_CHECKSUM');
  t.match(err.message, wrong, 'names the expected digest');
  t.match(err.message, sha(data), 'names the actual digest');
  t.same(err.details, { url: server.url('mismatch.img'), algorithm: 'sha256', expected: wrong, actual: sha(data) });
  t.same(readdirSync(cache.tmpDir), [], 'temp file removed');
  t.same(
    readdirSync(cache.dir).filter((f) => f !== '.tmp'),
    [],
    'nothing in the cache directory',
  );
  t.equal(cache.inventory().length, 0);
  // every declared digest is checked: a right sha256 with a wrong md5 is refused too
  const md5err = await cache
    .ensure({ sha256: sha(data), md5: '0'.repeat(32), url: server.url('mismatch.img') }, who)
    .catch((e) => e);
  t.equal(md5err.details.algorithm, 'md5');
  t.equal(cache.inventory().length, 0);
});

t.test('concurrent requests for one uncached image share a single download', async (t) => {
  const { cache } = await makeCache(t);
  const data = rawImage(2 * 1024 * 1024);
  server.serve('shared.img', { data });
  const ref = { sha256: sha(data), url: server.url('shared.img') };
  const got = await Promise.all(Array.from({ length: 10 }, () => cache.ensure(ref, who)));
  t.equal(server.requests('shared.img').length, 1, 'one GET for ten requests');
  t.ok(got.every((g) => g.sha256 === ref.sha256));
  t.same(readFileSync(cache.path(ref.sha256)), data);
});

t.test('a download cut half-way resumes with Range and ends verified', async (t) => {
  const { cache } = await makeCache(t);
  const data = rawImage(4 * 1024 * 1024);
  server.serve('cut.img', { data, cutAfter: 2 * 1024 * 1024 });
  const img = await cache.ensure({ sha256: sha(data), sha512: sha(data, 'sha512'), url: server.url('cut.img') }, who);
  const reqs = server.requests('cut.img');
  t.equal(reqs.length, 2, 'the cut response and one resumption');
  t.equal(reqs[0]!.range, undefined);
  t.match(reqs[1]!.range, /^bytes=\d+-$/, 'resumed with a Range request');
  t.ok(Number(/\d+/.exec(reqs[1]!.range!)![0]) >= 1024 * 1024, 'from where it stopped, not from zero');
  t.equal(reqs[1]!.status, 206);
  t.equal(img.sha256, sha(data));
  t.same(readFileSync(cache.path(img.sha256)), data, 'the file is whole');
});

t.test(
  'a cut download without a Content-Length resumes too, and a cut the server cannot resume fails cleanly',
  async (t) => {
    const { cache } = await makeCache(t);
    const data = rawImage(1024 * 1024);
    server.serve('cut-chunked.img', { data, chunked: true, cutAfter: 300_000 });
    const img = await cache.ensure({ sha256: sha(data), url: server.url('cut-chunked.img') }, who);
    t.equal(img.sha256, sha(data));
    server.serve('cut-norange.img', { data, noRange: true, cutAfter: 300_000 });
    const err = await cache.ensure({ sha256: 'a'.repeat(64), url: server.url('cut-norange.img') }, who).catch((e) => e);
    t.equal(err.code, 'STRATUS_ERR_DOWNLOAD');
    t.same(readdirSync(cache.tmpDir), [], 'no partial file');
  },
);

t.test(
  'hostile images are refused: backing file, external data file, unknown format, too large, wrong format',
  async (t) => {
    const { cache } = await makeCache(t, { maxVirtualSize: 64 * 1024 * 1024 });
    const cases: [string, Buffer, RegExp, string?][] = [
      [
        'backing.qcow2',
        qemuImgFile(
          (d) => ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/etc/passwd', join(d, 'x.qcow2'), '1M'],
          'x.qcow2',
        ),
        /backing file \(\/etc\/passwd\)/,
      ],
      [
        'datafile.qcow2',
        qemuImgFile(
          (d) => ['create', '-q', '-f', 'qcow2', '-o', `data_file=${join(d, 'data.raw')}`, join(d, 'x.qcow2'), '1M'],
          'x.qcow2',
        ),
        /external data file/,
      ],
      [
        'disk.vmdk',
        qemuImgFile((d) => ['create', '-q', '-f', 'vmdk', join(d, 'x.vmdk'), '1M'], 'x.vmdk'),
        /unsupported image format vmdk/,
      ],
      ['huge.qcow2', qcow2Image('1T'), /virtual size 1099511627776 bytes exceeds the limit/],
      ['declared-raw.qcow2', qcow2Image('1M'), /declared as raw but its content is qcow2/, 'raw'],
    ];
    for (const [name, data, reason, format] of cases) {
      server.serve(name, { data });
      const ref = { sha256: sha(data), url: server.url(name), ...(format ? { format: format as 'raw' } : {}) };
      const err = await cache.ensure(ref, who).catch((e) => e);
      t.equal(err.code, 'STRATUS_ERR_IMAGE_REFUSED', `${name} refused`);
      t.match(err.message, reason, `${name}: ${err.message}`);
    }
    t.equal(cache.inventory().length, 0, 'none cached');
    t.same(readdirSync(cache.tmpDir), [], 'no temp files left');
  },
);

t.test(
  '.gz and .xz are decompressed on the fly; an OVA is unpacked and its vmdk disk converted to qcow2',
  async (t) => {
    const { cache } = await makeCache(t);
    const disk = rawImage(512 * 1024);
    const gz = gzipSync(disk);
    const xz = execFileSync('xz', ['-c', '-T1'], { input: disk });
    server.serve('d.img.gz', { data: gz });
    server.serve('d.img.xz', { data: xz });
    const a = await cache.ensure({ sha256: sha(gz), url: server.url('d.img.gz') }, who);
    t.equal(a.sha256, sha(disk), 'cached under the sha256 of the disk');
    t.equal(a.sourceSha256, sha(gz), 'and known by the sha256 it was published with');
    t.equal(cache.find(sha(gz))?.sha256, sha(disk), 'found by either');
    t.same(readFileSync(cache.path(a.sha256)), disk);
    await cache.remove(a.sha256);
    const b = await cache.ensure({ sha256: sha(xz), url: server.url('d.img.xz') }, who);
    t.equal(b.sha256, sha(disk));

    const vmdk = qemuImgFile(
      (d) => ['create', '-q', '-f', 'vmdk', '-o', 'subformat=streamOptimized', join(d, 'x.vmdk'), '8M'],
      'x.vmdk',
    );
    const ovf = `<?xml version="1.0"?><Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
<References><File ovf:href="appliance-disk1.vmdk" ovf:id="file1" ovf:size="${vmdk.length}"/></References>
<DiskSection><Disk ovf:capacity="8" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1"
 ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/></DiskSection></Envelope>`;
    const pack = tar.pack();
    pack.entry({ name: 'appliance.ovf' }, ovf);
    pack.entry({ name: 'appliance.mf' }, 'SHA256(appliance-disk1.vmdk)= x\n');
    pack.entry({ name: 'appliance-disk1.vmdk' }, vmdk);
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const ova = Buffer.concat(chunks);
    server.serve('appliance.ova', { data: ova });
    const c = await cache.ensure({ sha256: sha(ova), url: server.url('appliance.ova') }, who);
    t.equal(c.format, 'qcow2', 'converted to qcow2');
    t.equal(c.virtualSize, 8 * 1024 * 1024);
    t.equal(c.sourceSha256, sha(ova));
    t.equal(sha(readFileSync(cache.path(c.sha256))), c.sha256, 'content-addressed by the converted file');
  },
);

t.test('eviction under the quota never removes a base that an instance disk uses', async (t) => {
  const MiB = 1024 * 1024;
  const { cache } = await makeCache(t, { quotaBytes: 3 * MiB + 1000 });
  const imgs = ['a', 'b', 'c', 'd', 'e'].map((n) => ({ n, data: rawImage(MiB) }));
  for (const { n, data } of imgs) server.serve(`q-${n}.img`, { data });
  const ref = (i: number) => ({ sha256: sha(imgs[i]!.data), url: server.url(`q-${imgs[i]!.n}.img`) });
  // a is the oldest image, but an instance disk uses it
  await cache.acquire(ref(0), 'vm:1/disk0', who);
  await cache.ensure(ref(1), who);
  await cache.ensure(ref(2), who);
  await cache.ensure(ref(3), who); // over the quota: the least recently used unused image (b) goes
  const have = () => cache.inventory().map((i) => i.sha256);
  t.ok(have().includes(ref(0).sha256), 'the base in use stays');
  t.notOk(have().includes(ref(1).sha256), 'the least recently used unused image was evicted');
  t.notOk(existsSync(cache.path(ref(1).sha256)), 'and its file removed');
  t.ok(existsSync(cache.path(ref(0).sha256)));
  t.ok(cache.usage().bytes <= 3 * MiB + 1000, 'within the quota');
  // when everything is in use, a new image is refused rather than evicting a base
  await cache.acquire(ref(2), 'vm:2/disk0', who);
  await cache.acquire(ref(3), 'vm:3/disk0', who);
  const err = await cache.ensure(ref(4), who).catch((e) => e);
  t.equal(err.code, 'STRATUS_ERR_IMAGE_CACHE_FULL');
  t.equal(err.status, 507);
  t.same(have().sort(), [ref(0).sha256, ref(2).sha256, ref(3).sha256].sort(), 'no base was evicted');
  const busy = await cache.remove(ref(0).sha256).catch((e) => e);
  t.equal(busy.status, 409, 'a base in use cannot be removed either');
  cache.release('vm:1');
  await cache.ensure(ref(4), who);
  t.notOk(have().includes(ref(0).sha256), 'once released it is evictable');
  t.equal(cache.usage().inUseImages, 2);
});

t.test('policy: a denied checksum is refused before any download, with an audit record', async (t) => {
  const data = rawImage(100_000);
  const digest = sha(data);
  const { cache, images } = await makeCache(t, {
    policy: { denyChecksums: [digest], allowUrlPrefixes: [server.url('ok/')] },
  });
  server.serve('denied.img', { data });
  const before = server.requests().length;
  const err = await cache
    .ensure({ sha256: digest, url: server.url('denied.img'), endorser: 'eve@example.org' }, { actor: 'alice' })
    .catch((e) => e);
  t.equal(err.code, 'STRATUS_ERR_IMAGE_POLICY');
  t.equal(err.status, 403);
  t.match(err.message, /on the deny list/);
  t.equal(server.requests().length, before, 'the server saw no request');
  const [rec] = images.auditLog(10, digest);
  t.match(rec, {
    actor: 'alice',
    stage: 'download',
    sha256: digest,
    url: server.url('denied.img'),
    endorser: 'eve@example.org',
    decision: 'deny',
    reason: `checksum ${digest} is on the deny list`,
  });
  t.ok(Math.abs(rec!.at - Date.now()) < 60_000, 'with the time');
  t.equal(rec!.id, err.details.auditId, 'the error names the audit record');
  // with an allow list, a URL outside it is refused too
  const other = rawImage(1000);
  server.serve('elsewhere.img', { data: other });
  const e2 = await cache.ensure({ sha256: sha(other), url: server.url('elsewhere.img') }, who).catch((e) => e);
  t.match(e2.message, /matches no allow list/);
  server.serve('ok/fine.img', { data: other });
  t.ok(await cache.ensure({ sha256: sha(other), url: server.url('ok/fine.img') }, who), 'an allowed prefix passes');
});
