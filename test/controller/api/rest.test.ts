// The REST API's edges on a real controller: tokens and roles, ownership (404 on reads, 403 on
// actions), quotas, readable 4xx for bad input, a pending VM that says why, and a valid OpenAPI 3.1.
import { Validator } from '@seriousme/openapi-schema-validator';
import t from 'tap';
import { type ControllerHandle, startController } from '../../helpers/controller-process.ts';
import { sha256File } from '../../helpers/file-server.ts';
import { testGuest } from '../../helpers/guest.ts';

let c: ControllerHandle;
let alice: string;
let bob: string;
let carol: string;

t.before(async () => {
  c = await startController();
  const mk = async (name: string, quota?: object) => {
    const r = await c.request('POST', '/v1/users', { name, ...(quota ? { quota } : {}) });
    if (r.status !== 201) throw new Error(`user ${name}: ${r.status} ${r.body.title}`);
    return r.body.token as string;
  };
  alice = await mk('alice');
  bob = await mk('bob');
  carol = await mk('carol', { vms: 1, vcpus: 4, memoryMiB: 4096 });
  const img = await c.request('POST', '/v1/images', {
    name: 'disk',
    url: 'http://127.0.0.1:9/disk.qcow2',
    sha256: sha256File(testGuest().disk),
    format: 'qcow2',
    visibility: 'public',
  });
  if (img.status !== 201) throw new Error(`image: ${img.body.title}`);
});
t.teardown(() => c.cleanup());

t.test('tokens and roles', async (t) => {
  t.equal((await c.request('GET', '/v1/vms', undefined, '')).status, 401, 'no token: 401');
  const bad = await c.request('GET', '/v1/vms', undefined, 'st_wrong');
  t.equal(bad.status, 401);
  t.equal(bad.headers.get('content-type')?.split(';')[0], 'application/problem+json');
  const asUser = await c.request('POST', '/v1/types', { name: 'x1', vcpus: 1, memoryMiB: 64, diskGiB: 0 }, alice);
  t.equal(asUser.status, 403, 'a user cannot create instance types');
  t.match(asUser.body.title, /admin role/);
  t.equal((await c.request('GET', '/v1/users/me', undefined, alice)).body.name, 'alice');
});

t.test("another user's VM: 404 for reads, 403 for actions", async (t) => {
  const created = await c.request('POST', '/v1/vms', { name: 'mine', type: 't1.micro', image: 'disk' }, alice);
  t.equal(created.status, 202);
  const vm = created.body.items[0];
  t.equal(vm.state, 'pending');
  const shown = await c.request('GET', `/v1/vms/${vm.id}`, undefined, alice);
  t.match(shown.body.reason, /no host|waiting/, `a pending VM says why: ${shown.body.reason}`);
  t.equal((await c.request('GET', `/v1/vms/${vm.id}`, undefined, bob)).status, 404);
  t.notOk(
    (await c.request('GET', '/v1/vms', undefined, bob)).body.items.some((v: { id: string }) => v.id === vm.id),
    'not in bob list',
  );
  for (const [method, path] of [
    ['POST', `/v1/vms/${vm.id}/stop`],
    ['POST', `/v1/vms/${vm.id}/reboot`],
    ['DELETE', `/v1/vms/${vm.id}`],
  ] as const) {
    const r = await c.request(method, path, method === 'POST' ? {} : undefined, bob);
    t.equal(r.status, 403, `${method} ${path.split('/').pop()} by another user: 403`);
  }
  t.equal((await c.request('GET', `/v1/vms/${vm.id}`)).status, 200, 'admin sees every VM');
  t.equal((await c.request('DELETE', `/v1/vms/${vm.id}`, undefined, alice)).status, 204, 'the owner deletes it');
});

t.test('quotas are enforced with a clear 4xx, atomically', async (t) => {
  const first = await c.request('POST', '/v1/vms', { name: 'one', type: 't1.micro', image: 'disk' }, carol);
  t.equal(first.status, 202);
  const second = await c.request('POST', '/v1/vms', { name: 'two', type: 't1.micro', image: 'disk' }, carol);
  t.equal(second.status, 403);
  t.equal(second.body.code, 'STRATUS_ERR_QUOTA');
  t.match(second.body.title, /quota exceeded: VMs 1 in use \+ 1 asked > 1 allowed/);
  const many = await c.request('POST', '/v1/vms', { name: 'many', type: 't1.micro', image: 'disk', count: 50 }, alice);
  t.equal(many.status, 403, 'a batch over quota is refused whole');
  t.equal((await c.request('GET', '/v1/vms', undefined, alice)).body.items.length, 0, 'and nothing of it was created');
});

t.test('malformed JSON, unknown fields and absurd sizes: 4xx with a readable message', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['malformed JSON', '{"name": "x", ', /not valid JSON/],
    ['unknown field', { name: 'x', type: 't1.micro', image: 'disk', gpu: 8 }, /gpu|Unexpected property/],
    ['absurd count', { name: 'x', type: 't1.micro', image: 'disk', count: 100000 }, /\/count/],
    ['bad name', { name: '../etc', type: 't1.micro', image: 'disk' }, /\/name: must be 1-56 letters/],
    ['unknown type', { name: 'x', type: 'z9.huge', image: 'disk' }, /instance type z9.huge not found/],
    ['unknown image', { name: 'x', type: 't1.micro', image: 'nope' }, /image nope not found/],
  ];
  for (const [what, body, message] of cases) {
    const r = await c.request('POST', '/v1/vms', body, alice);
    t.ok(r.status >= 400 && r.status < 500, `${what}: ${r.status}`);
    t.match(r.body.title, message, `${what}: ${r.body.title}`);
  }
  const absurdType = await c.request('POST', '/v1/types', { name: 'huge', vcpus: 100000, memoryMiB: -1, diskGiB: 0 });
  t.equal(absurdType.status, 400);
  t.match(absurdType.body.title, /vcpus/);
  const badSha = await c.request(
    'POST',
    '/v1/images',
    { name: 'x', url: 'http://h/x', sha256: 'abc', format: 'qcow2' },
    alice,
  );
  t.equal(badSha.status, 400);
  t.match(badSha.body.title, /sha256: must be 64 lower-case hex digits/);
});

t.test('the OpenAPI document is valid OpenAPI 3.1 and describes the API', async (t) => {
  const r = await c.request('GET', '/v1/openapi.json', undefined, '');
  t.equal(r.status, 200);
  const v = new Validator();
  const res = await v.validate(r.body);
  t.ok(res.valid, JSON.stringify(res.errors ?? '').slice(0, 500));
  t.equal(v.version, '3.1');
  for (const p of ['/v1/vms', '/v1/vms/{id}', '/v1/images', '/v1/images/upload', '/v1/hosts', '/v1/types', '/v1/users'])
    t.ok(r.body.paths[p], `documents ${p}`);
  t.ok(r.body.paths['/v1/vms'].post.requestBody, 'request schemas come from the validators');
});

t.test('a VM asks for NICs on networks by name: unknown networks are refused, known ones recorded by id', async (t) => {
  const unknown = await c.request(
    'POST',
    '/v1/vms',
    { name: 'netvm', type: 't1.micro', image: 'disk', nics: [{ network: 'nowhere' }] },
    alice,
  );
  t.equal(unknown.status, 404);
  t.match(unknown.body.title, /nowhere/);
  const suffix = Math.random().toString(36).slice(2, 7);
  const net = await c.request('POST', '/v1/networks', {
    name: `rest-${suffix}`,
    bridge: `brr${suffix}`,
    ipv4: { cidr: '10.214.9.0/24', gateway: '10.214.9.1' },
  });
  t.equal(net.status, 201, net.body.title ?? 'network created');
  t.teardown(async () => {
    const r = await c.request('DELETE', `/v1/networks/${net.body.id}`);
    if (r.status !== 204) throw new Error(`network not deleted: ${r.status} ${JSON.stringify(r.body)}`);
  });
  const ok = await c.request(
    'POST',
    '/v1/vms',
    {
      name: 'netvm',
      type: 't1.micro',
      image: 'disk',
      nics: [{ network: `rest-${suffix}`, firewall: { antiSpoofing: true } }],
    },
    alice,
  );
  t.equal(ok.status, 202);
  t.same(
    ok.body.items[0].nics.map((n: { network: string }) => n.network),
    [net.body.id],
    'recorded by network id',
  );
  t.equal((await c.request('DELETE', `/v1/vms/${ok.body.items[0].id}`, undefined, alice)).status, 204);
});
