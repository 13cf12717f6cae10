// Hostile images are refused at the controller's door: a qcow2 whose backing file is /etc/shadow, one
// with an external data file, one with an absurd virtual size, and a qcow2 declared as raw each get 422
// with the reason, and leave neither an image record nor bytes in the controller's image directory.
// Uploads over [images] max_upload_mib get 413 and uploads over the owner's quota 403, also when the
// client does not announce a length (the transfer is cut), again leaving nothing. Images registered by
// URL are inspected through HTTP the same way.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { startController } from '../../helpers/controller-process.ts';
import { startImageServer } from '../../helpers/image-server.ts';

const work = mkdtempSync(join(tmpdir(), 'stratus-hostile-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const qimg = (...args: string[]) => execFileSync('qemu-img', args, { stdio: ['ignore', 'ignore', 'pipe'] });

const backing = join(work, 'backing.qcow2');
qimg('create', '-q', '-u', '-f', 'qcow2', '-F', 'raw', '-b', '/etc/shadow', backing, '1M');
const dataFile = join(work, 'datafile.qcow2');
qimg('create', '-q', '-f', 'qcow2', '-o', `data_file=${join(work, 'data.raw')}`, dataFile, '1M');
const huge = join(work, 'huge.qcow2');
qimg('create', '-q', '-f', 'qcow2', huge, '64T');
const plain = join(work, 'plain.qcow2');
qimg('create', '-q', '-f', 'qcow2', plain, '1M');

const c = await startController({ extraToml: '[images]\nmax_upload_mib = 4\nuser_quota_mib = 3\n' });
t.teardown(() => c.cleanup());
const imageDir = join(c.dir, 'state', 'images');
const leftovers = () => (existsSync(imageDir) ? readdirSync(imageDir) : []);

const upload = async (body: Buffer | Readable, q: Record<string, string>, token?: string) => {
  const res = await fetch(`${c.url}/v1/images/upload?${new URLSearchParams(q)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token ?? 'st_test_admin_token_0123456789abcdef'}` },
    body: body instanceof Readable ? (Readable.toWeb(body) as ReadableStream) : body,
    duplex: 'half',
  } as RequestInit);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
};

t.test('hostile qcow2 uploads get 422 with the reason and leave nothing', async (t) => {
  for (const [what, file, format, reason] of [
    ['backing file /etc/shadow', backing, 'qcow2', /backing file \(\/etc\/shadow\)/],
    ['external data file', dataFile, 'qcow2', /external data file/],
    [
      'absurd virtual size',
      huge,
      'qcow2',
      /virtual size 70368744177664 bytes exceeds the limit of 2199023255552 bytes/,
    ],
    ['declared raw but is qcow2', plain, 'raw', /declared as raw but its content is qcow2/],
  ] as const) {
    const r = await upload(readFileSync(file), { name: 'evil', format });
    t.equal(r.status, 422, `${what}: ${JSON.stringify(r.body)}`);
    t.equal(r.body.code, 'STRATUS_ERR_IMAGE_REFUSED', what);
    t.match(r.body.title, reason, `${what}: the reason`);
    t.same((await c.request('GET', '/v1/images')).body.items, [], `${what}: no image record`);
    t.same(leftovers(), [], `${what}: no bytes kept`);
  }
  const ok = await upload(readFileSync(plain), { name: 'fine', format: 'qcow2' });
  t.equal(ok.status, 201, 'a standalone qcow2 is accepted');
  t.equal((await c.request('DELETE', `/v1/images/${ok.body.id}`)).status, 204);
});

t.test('the CLI reports a refused upload with one readable line', async (t) => {
  const r = await c.cli(['image', 'upload', backing, '--name', 'evil', '--format', 'qcow2']);
  t.not(r.code, 0);
  t.match(r.stderr, /backing file \(\/etc\/shadow\)/);
  t.same(leftovers(), []);
});

t.test('uploads over the size limit or the quota are refused and leave nothing', async (t) => {
  const user = await c.request('POST', '/v1/users', { name: 'uploader' });
  t.equal(user.status, 201);
  const token = user.body.token as string;
  const mib = (n: number) => Buffer.alloc(n * 1024 * 1024, 0x5a);

  const big = await upload(mib(5), { name: 'big', format: 'raw' });
  t.equal(big.status, 413, 'over max_upload_mib (announced length)');
  t.equal(big.body.code, 'STRATUS_ERR_TOO_LARGE');
  const streamed = await upload(Readable.from([mib(2), mib(2), mib(1)]), { name: 'big', format: 'raw' });
  t.equal(streamed.status, 413, 'over max_upload_mib (no length announced: cut while streaming)');
  t.same(leftovers(), [], 'nothing kept');

  const first = await upload(mib(2), { name: 'first', format: 'raw' }, token);
  t.equal(first.status, 201, 'within the quota');
  const second = await upload(mib(2), { name: 'second', format: 'raw' }, token);
  t.equal(second.status, 403, 'over the quota');
  t.equal(second.body.code, 'STRATUS_ERR_QUOTA');
  t.match(second.body.title, /image quota exceeded: 2097152 bytes of images kept \+ 2097152 uploaded > 3145728/);
  const third = await upload(Readable.from([mib(1), mib(1)]), { name: 'third', format: 'raw' }, token);
  t.equal(third.status, 403, 'over the quota while streaming');
  t.same(
    (await c.request('GET', '/v1/images', undefined, token)).body.items.map((i: { name: string }) => i.name),
    ['first'],
  );
  t.same(leftovers(), [first.body.id], 'only the accepted upload is kept');
  const setQuota = await c.request('PUT', `/v1/users/${user.body.user.id}/quota`, {
    vms: 1,
    vcpus: 1,
    memoryMiB: 1024,
    imagesMiB: 8,
  });
  t.equal(setQuota.status, 200, 'a per-user image quota');
  t.equal((await upload(mib(2), { name: 'second', format: 'raw' }, token)).status, 201, 'within the larger quota');
});

t.test('images registered by URL are inspected too: hostile headers get 422 and no record', async (t) => {
  const server = await startImageServer();
  t.teardown(() => server.close());
  server.serve('backing.qcow2', { path: backing });
  server.serve('plain.qcow2', { path: plain });
  const sha = 'a'.repeat(64);
  const evil = await c.request('POST', '/v1/images', {
    name: 'evil-url',
    url: server.url('backing.qcow2'),
    sha256: sha,
    format: 'qcow2',
  });
  t.equal(evil.status, 422, JSON.stringify(evil.body));
  t.match(evil.body.title, /backing file \(\/etc\/shadow\)/);
  const lying = await c.request('POST', '/v1/images', {
    name: 'lying-url',
    url: server.url('plain.qcow2'),
    sha256: sha,
    format: 'raw',
  });
  t.equal(lying.status, 422, 'declared raw, is qcow2');
  const names = (await c.request('GET', '/v1/images')).body.items.map((i: { name: string }) => i.name);
  t.notOk(names.includes('evil-url') || names.includes('lying-url'), 'no record of the refused registrations');
  const ok = await c.request('POST', '/v1/images', {
    name: 'fine-url',
    url: server.url('plain.qcow2'),
    sha256: sha,
    format: 'qcow2',
  });
  t.equal(ok.status, 201, 'a standalone qcow2 registers');
  const unreachable = await c.request('POST', '/v1/images', {
    name: 'elsewhere',
    url: server.url('missing.qcow2'),
    sha256: sha,
    format: 'qcow2',
  });
  t.equal(unreachable.status, 201, 'a URL the controller cannot read is left to the agents');
});
