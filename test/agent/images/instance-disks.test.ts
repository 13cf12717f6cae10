// Image disks through a real agent process and real libvirtd: concurrent deploys share one download,
// each VM gets a qcow2 overlay on the cached base, a failed create leaves nothing, delete removes the
// overlays; and a cache directory that fills up mid-download (a small tmpfs) fails cleanly.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startAgent } from '../../helpers/agent-process.ts';
import { guestSpec } from '../../helpers/guest.ts';
import { startImageServer } from '../../helpers/image-server.ts';
import { rawImage, sha } from '../../helpers/image-cache.ts';

const server = await startImageServer();
t.teardown(() => server.close());

const qemuInfo = (path: string) =>
  JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', path], { encoding: 'utf8' })) as Record<
    string,
    unknown
  >;

t.test('ten concurrent deploys of one uncached image: one download, ten overlays on it', async (t) => {
  const agent = await startAgent();
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const data = rawImage(4 * 1024 * 1024);
  server.serve('ten.img', { data, throttleMs: 20 });
  const image = { sha256: sha(data), url: server.url('ten.img'), format: 'raw' as const };
  const specs = Array.from({ length: 10 }, (_, i) =>
    guestSpec({ name: `deploy-${i}`, disks: [{ image, sizeGiB: 1 }] }),
  );
  const created = await Promise.all(specs.map((spec) => agent.request('POST', '/v1/vms', { spec, start: false })));
  t.same(
    created.map((c) => c.status),
    Array(10).fill(201),
    JSON.stringify(created.find((c) => c.status !== 201)?.body),
  );
  t.equal(server.requests('ten.img').length, 1, 'the server saw exactly one download');
  const cached = join(agent.dir, 'state/images', image.sha256);
  for (const spec of specs) {
    const overlay = join(agent.dir, 'state/instances', spec.id, 'disk0.qcow2');
    const i = qemuInfo(overlay);
    t.equal(i['backing-filename'], cached, `${spec.name}: overlay on the cached base`);
    t.equal(i['backing-filename-format'], 'raw');
    t.equal(i['virtual-size'], 1024 ** 3, 'grown to sizeGiB');
  }
  const list = await agent.request('GET', '/v1/images');
  t.match(list.body.items, [{ sha256: image.sha256, users: 10, format: 'raw', sourceUrl: image.url }]);
  t.equal(list.body.usage.bytes, data.length, 'cache bytes are reported');
  for (const spec of specs) t.equal((await agent.request('DELETE', `/v1/vms/${spec.id}`)).status, 204);
  t.same(readdirSync(join(agent.dir, 'state/instances')), [], 'overlays removed with their VMs');
  t.match((await agent.request('GET', '/v1/images')).body.items, [{ sha256: image.sha256, users: 0 }]);
  t.equal((await agent.request('DELETE', `/v1/images/${image.sha256}`)).status, 204);
  t.notOk(existsSync(cached));
});

t.test('a create that fails after its overlay was made removes the overlay and releases the image', async (t) => {
  const agent = await startAgent();
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const data = rawImage(256 * 1024);
  server.serve('fail.img', { data });
  const spec = guestSpec({
    name: 'fails',
    machine: 'no-such-machine',
    disks: [{ image: { sha256: sha(data), url: server.url('fail.img') } }],
  });
  const r = await agent.request('POST', '/v1/vms', { spec });
  t.ok(r.status >= 400, `refused: ${r.body.title}`);
  t.notOk(existsSync(join(agent.dir, 'state/instances', spec.id)), 'no overlay left');
  t.match((await agent.request('GET', '/v1/images')).body.items, [{ sha256: sha(data), users: 0 }], 'cached, unused');
  t.equal((await agent.request('GET', `/v1/vms/${spec.id}`)).status, 404);
});

t.test('a deploy of a denied image is refused before download, with an audit record of who asked', async (t) => {
  server.serve('never.img', { data: rawImage(1000) });
  const bad = guestSpec({
    name: 'denied',
    labels: { owner: 'mallory' },
    disks: [{ image: { sha256: 'e'.repeat(64), url: server.url('never.img') } }],
  });
  const before = server.requests('never.img').length;
  const extra = await startAgent({ extraToml: `[images]\ndeny_checksums = ["${'e'.repeat(64)}"]\n` });
  t.teardown(() => extra.cleanup());
  await extra.waitReady();
  const refused = await extra.request('POST', '/v1/vms', { spec: bad });
  t.equal(refused.status, 403);
  t.equal(refused.body.code, 'STRATUS_ERR_IMAGE_POLICY');
  t.equal(server.requests('never.img').length, before, 'refused before download');
  const audit = await extra.request('GET', '/v1/images/audit');
  t.match(audit.body.items[0], {
    actor: 'mallory',
    vmId: bad.id,
    stage: 'deploy',
    sha256: 'e'.repeat(64),
    decision: 'deny',
  });
});

t.test('a disk that fills up during a download: clean error, no partial file, the agent keeps working', async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 'stratus-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', mnt]);
  t.teardown(() => {
    execFileSync('umount', ['-l', mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });
  const cacheDir = join(mnt, 'images');
  mkdirSync(cacheDir);
  const agent = await startAgent({ extraToml: `[images]\ncache_dir = "${cacheDir}"\n` });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const big = rawImage(40 * 1024 * 1024);
  // no Content-Length: the size is unknown until the disk is full
  server.serve('big.img', { data: big, chunked: true });
  const r = await agent.request('POST', '/v1/images/prefetch', {
    image: { sha256: sha(big), url: server.url('big.img') },
    wait: true,
  });
  t.equal(r.status, 507, JSON.stringify(r.body));
  t.equal(r.body.code, 'STRATUS_ERR_DISK_FULL');
  t.match(r.body.title, /no space left in .* nothing was kept/);
  t.same(
    readdirSync(cacheDir).filter((f) => f !== '.tmp'),
    [],
    'nothing cached',
  );
  t.same(readdirSync(join(cacheDir, '.tmp')), [], 'no partial file');
  // with a Content-Length it is refused before a byte is written
  server.serve('big-known.img', { data: big });
  const known = await agent.request('POST', '/v1/images/prefetch', {
    image: { sha256: sha(big), url: server.url('big-known.img') },
    wait: true,
  });
  t.equal(known.body.code, 'STRATUS_ERR_DISK_FULL');
  t.equal((await agent.request('GET', '/v1/health')).status, 200, 'the agent is healthy');
  const small = rawImage(1024 * 1024);
  server.serve('small.img', { data: small });
  const ok = await agent.request('POST', '/v1/images/prefetch', {
    image: { sha256: sha(small), url: server.url('small.img') },
  });
  t.ok([201, 202].includes(ok.status), `prefetch accepted (${ok.status})`);
  const img = await (async () => {
    for (let i = 0; i < 100; i++) {
      const g = await agent.request('GET', `/v1/images/${sha(small)}`);
      if (g.body.status === 'cached') return g.body;
      await new Promise((res) => setTimeout(res, 100));
    }
    return undefined;
  })();
  t.match(img, { sha256: sha(small), status: 'cached', sizeBytes: small.length }, 'and still caches images');
});
