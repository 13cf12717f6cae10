// Failed authentications are limited per source address: after [api] auth_failures_max bad bearer
// tokens (or capability URLs with a wrong token) within the window, requests from that address that
// carry credentials get 429 with Retry-After, even with a good token, while requests without
// credentials still get through. JSON bodies over a route's limit get 413.

import t from 'tap';
import { ADMIN_TOKEN, startController } from '../../helpers/controller-process.ts';

const c = await startController({ api: 'auth_failures_max = 3\nauth_failures_window_s = 600' });
t.teardown(() => c.cleanup());

t.test('JSON bodies over the route limit get 413 with the limit', async (t) => {
  const r = await c.request('POST', '/v1/images', { name: 'x', url: `http://x/${'x'.repeat(70_000)}` });
  t.equal(r.status, 413);
  t.equal(r.body.code, 'STRATUS_ERR_TOO_LARGE');
  t.match(r.body.title, /at most 65536 bytes/);
  const anon = await c.request('POST', '/v1/images', 'x'.repeat(70_000), '');
  t.equal(anon.status, 401, 'an anonymous caller is told to authenticate first, whatever its body');
  const big = await c.request('POST', '/v1/vms', { name: 'x', type: 'm1.small', image: 'x'.repeat(3 << 20) });
  t.equal(big.status, 413, 'VM creation accepts user data, up to its own limit');
  t.match(big.body.title, /at most 2097152 bytes/);
});

t.test('bad tokens: 401 three times, then 429 with Retry-After for every credential', async (t) => {
  for (let i = 0; i < 3; i++) {
    const r = await c.request('GET', '/v1/vms', undefined, `st_wrong_${i}`);
    t.equal(r.status, 401, `attempt ${i + 1}`);
  }
  const blocked = await c.request('GET', '/v1/vms', undefined, 'st_wrong_again');
  t.equal(blocked.status, 429);
  t.equal(blocked.body.code, 'STRATUS_ERR_TOO_MANY_REQUESTS');
  const wait = Number(blocked.headers.get('retry-after'));
  t.ok(wait > 0 && wait <= 600, `Retry-After ${wait}`);
  t.match(blocked.body.title, /too many failed authentications from 127\.0\.0\.1/);
  t.equal((await c.request('GET', '/v1/vms', undefined, ADMIN_TOKEN)).status, 429, 'a good token from there too');
  const img = await fetch(`${c.url}/v1/images/x/content?host=h&exp=1&token=t`);
  t.equal(img.status, 429, 'capability URLs from there too');
  t.equal((await c.request('GET', '/v1/health', undefined, '')).status, 200, 'no credentials: not limited');
  t.equal((await c.request('GET', '/v1/openapi.json', undefined, '')).status, 200);
});
