// tier: unit
// drivers/http-fetch.ts against a real HTTP server: Range with If-Range, redirects, errors.
import { createServer } from 'node:http';
import t from 'tap';
import { httpGet } from '../../drivers/http-fetch.ts';

const body = Buffer.from('0123456789abcdefghij');
const server = createServer((req, res) => {
  if (req.url === '/moved') {
    res.writeHead(302, { location: '/file' }).end();
    return;
  }
  if (req.url !== '/file') {
    res.writeHead(404).end();
    return;
  }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const stale = req.headers['if-range'] !== undefined && req.headers['if-range'] !== '"v1"';
  if (m && !stale) {
    const start = Number(m[1]);
    res.writeHead(206, { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, etag: '"v1"' });
    res.end(body.subarray(start));
  } else {
    res.writeHead(200, { 'content-length': body.length, etag: '"v1"', 'accept-ranges': 'bytes' });
    res.end(body);
  }
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => server.close(() => r())));
const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

const text = async (b: AsyncIterable<Buffer>) => {
  let s = '';
  for await (const c of b) s += c.toString();
  return s;
};

t.test('a GET reports size and validator; a Range GET resumes where asked; redirects are followed', async (t) => {
  const full = await httpGet(`${base}/moved`);
  t.equal(full.url, `${base}/file`);
  t.equal(full.totalLength, 20);
  t.equal(full.validator, '"v1"');
  t.ok(full.acceptsRanges);
  t.equal(await text(full.body), body.toString());
  const part = await httpGet(`${base}/file`, { offset: 15, validator: '"v1"' });
  t.equal(part.status, 206);
  t.equal(part.offset, 15);
  t.equal(part.totalLength, 20);
  t.equal(await text(part.body), 'fghij');
  const changed = await httpGet(`${base}/file`, { offset: 15, validator: '"v0"' });
  t.equal(changed.offset, 0, 'a changed file is sent whole (If-Range), never spliced');
  changed.body.resume();
});

t.test('HTTP errors and bad URLs are clear download errors', async (t) => {
  const e404 = await httpGet(`${base}/nope`).catch((e) => e);
  t.equal(e404.code, 'STRATUS_ERR_DOWNLOAD');
  t.match(e404.message, /server answered 404/);
  t.equal((await httpGet('ftp://example.org/x').catch((e) => e)).code, 'STRATUS_ERR_DOWNLOAD');
  const refused = await httpGet('http://127.0.0.1:1/x').catch((e) => e);
  t.equal(refused.details.transient, true, 'a refused connection may be retried');
});
