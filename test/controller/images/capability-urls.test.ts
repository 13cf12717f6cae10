// Capability URLs expire and are bound to the host they were issued for: an image content URL or a
// context ISO URL works for its host until it expires; after that, or presented for another host, or
// for a host the controller does not know, or with its expiry stretched, it is a 403 that says why.
// The clock is injected, so nothing sleeps.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import express from 'express';
import t from 'tap';
import { problemHandler } from '../../../common/http-problem.ts';
import { createLogger } from '../../../common/logger.ts';
import { openDatabase } from '../../../common/sqlite.ts';
import { contextRoutes } from '../../../controller/context/routes.ts';
import { ContextService } from '../../../controller/context/service.ts';
import { ImageContent } from '../../../controller/images/content.ts';
import { ImageRegistry } from '../../../controller/images/registry.ts';
import { imageRoutes } from '../../../controller/images/routes.ts';
import { VmStore } from '../../../controller/vms/store.ts';

const log = createLogger('test', 'silent');
const dir = mkdtempSync(join(tmpdir(), 'stratus-cap-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const db = openDatabase(join(dir, 'controller.db'));
t.teardown(() => db.close());

let now = Date.UTC(2030, 0, 1);
const clock = () => now;
const TTL_S = 600;
const images = new ImageRegistry(db);
const owner = { id: 'u1', name: 'alice', role: 'user' };
const known = new Set(['host-a', 'host-b']);

const app = express();
const server = app.listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
t.teardown(() => server.close());
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const content = new ImageContent(join(dir, 'images'), Buffer.alloc(32, 7), base, TTL_S, clock);
const ctx = new ContextService({ db, log, dir: join(dir, 'isos'), ttlS: TTL_S, now: clock });
app.use((_req, res, next) => {
  res.locals['principal'] = { id: 'admin', name: 'admin', role: 'admin' };
  next();
});
app.use(
  '/v1',
  imageRoutes(images, content, new VmStore(db), log, {
    maxUploadBytes: 1 << 20,
    quotaBytes: () => undefined,
    maxVirtualSize: 1 << 30,
    inspectRegistered: false,
    hostKnown: (h) => known.has(h),
  }),
);
app.use('/v1', contextRoutes(ctx));
app.use(problemHandler(log));

const img = images.beginUpload({ name: 'disk', format: 'raw' }, owner);
const { sha256, size } = await content.store(img.id, Readable.from([Buffer.alloc(4096, 1)]), {
  maxBytes: 1 << 20,
  tooLarge: () => new Error('too large'),
});
images.finishUpload(img.id, sha256, size);

const get = async (url: string) => {
  const r = await fetch(url);
  const text = await r.text();
  return { status: r.status, body: r.status === 200 ? text : JSON.parse(text) };
};
const withParam = (url: string, k: string, v: string) => {
  const u = new URL(url);
  u.searchParams.set(k, v);
  return u.toString();
};

t.test('an image content URL works for its host until it expires', async (t) => {
  const url = content.url(img.id, sha256, 'host-a');
  t.match(url, /[?&]host=host-a&exp=\d+&token=/);
  t.equal((await get(url)).status, 200, 'the host it was issued for');

  const other = await get(withParam(url, 'host', 'host-b'));
  t.equal(other.status, 403, 'another host presenting the URL');
  t.match(other.body.title, /invalid image content URL: wrong token/);

  const exp = Number(new URL(url).searchParams.get('exp'));
  t.equal((await get(withParam(url, 'exp', String(exp + 86_400)))).status, 403, 'a stretched expiry');

  const stranger = content.url(img.id, sha256, 'host-z');
  const r = await get(stranger);
  t.equal(r.status, 403, 'a host the controller does not know');
  t.match(r.body.title, /host host-z is not known/);

  now += (TTL_S - 1) * 1000;
  t.equal((await get(url)).status, 200, 'still valid just before the expiry');
  now += 2000;
  const expired = await get(url);
  t.equal(expired.status, 403, 'expired');
  t.match(expired.body.title, /invalid image content URL: expired at /);
  t.equal((await get(content.url(img.id, sha256, 'host-a'))).status, 200, 'a fresh URL works');
});

t.test('a save-as upload URL is bound to its host and expires', async (t) => {
  const target = images.beginUpload({ name: 'saved', format: 'raw' }, owner);
  const url = content.uploadUrl(target.id, 'host-a');
  const put = (u: string) =>
    fetch(u, { method: 'PUT', body: Buffer.alloc(1024, 2) }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as { title?: string; state?: string },
    }));
  t.equal((await put(withParam(url, 'host', 'host-b'))).status, 403, 'another host');
  now += (TTL_S + 1) * 1000;
  const late = await put(url);
  t.equal(late.status, 403, 'expired');
  t.match(late.body.title, /invalid image upload URL: expired at/);
  const fresh = await put(content.uploadUrl(target.id, 'host-a'));
  t.equal(fresh.status, 200, JSON.stringify(fresh.body));
  t.equal(fresh.body.state, 'available');
});

t.test('a context ISO URL works for its host until it expires', async (t) => {
  const vmId = randomUUID();
  const iso = await ctx.build({ vmId, hostname: 'cap' }, [], 'host-a');
  const url = `${base}/v1${iso.url}`;
  t.match(url, /host=host-a&token=/);
  t.equal((await get(url)).status, 200, 'the host it was built for');
  const other = await get(withParam(url, 'host', 'host-b'));
  t.equal(other.status, 403, 'another host');
  t.match(other.body.title, /issued for another host than host-b/);
  const noHost = new URL(url);
  noHost.searchParams.delete('host');
  t.equal((await get(noHost.toString())).status, 403, 'no host named');
  now += (TTL_S + 1) * 1000;
  const expired = await get(url);
  t.equal(expired.status, 403, 'expired');
  t.match(expired.body.title, /invalid context URL: expired at/);
});
