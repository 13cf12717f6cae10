// Hostile input over the REST API and the CLI, a short seeded run of the fuzzers (test/helpers/fuzz/):
// every operation of the OpenAPI document and every CLI command with wrong types, huge sizes, NUL, path
// traversal, unicode, prototype keys and truncated JSON; never a 5xx, the controller keeps running, the
// CLI keeps its exit-code and one-line contract, and nothing is created by a refused request. The full
// length (20,000+ cases) is `npm run bench -- fuzz`. Also the regressions the fuzzer found.
import fc from 'fast-check';
import t from 'tap';
import { fuzzCli } from '../../helpers/fuzz/cli.ts';
import { fuzzRest } from '../../helpers/fuzz/rest.ts';
import { type FuzzWorld, startFuzzWorld } from '../../helpers/fuzz/world.ts';

const SEED = Number(process.env['STRATUS_FUZZ_SEED'] ?? 20261201);
let w: FuzzWorld;
t.before(async () => {
  w = await startFuzzWorld();
});
t.teardown(() => w.cleanup());

t.test(`REST: 1,500 hostile requests over every operation (seed ${SEED})`, async (t) => {
  const s = await fuzzRest(w, 1500, SEED);
  t.comment(`statuses ${JSON.stringify(s.statuses)}, ${s.resets} connections closed without an answer`);
  t.ok(s.operations >= 50, `the OpenAPI document lists the operations (${s.operations})`);
  t.same(s.findings, [], 'no 5xx, no crash, nothing created by a refused request');
  t.equal(s.cases, 1500);
  t.ok((s.statuses['200'] ?? 0) + (s.statuses['201'] ?? 0) > 50, 'some requests got through to the handlers');
});

t.test(`CLI: 600 hostile command lines (seed ${SEED})`, async (t) => {
  const s = await fuzzCli(w, 600, SEED);
  t.comment(`exit codes ${JSON.stringify(s.exits)}`);
  t.same(s.findings, [], 'documented exit codes, one readable line, nothing created by a failed command');
});

t.test('enable, disable or patch an unknown host: 404, and nothing recorded for it', async (t) => {
  const before = w.counts();
  const r1 = await w.c.request('POST', '/v1/hosts/no-such-host/enable');
  const r2 = await w.c.request('POST', '/v1/hosts/no-such-host/disable', { reason: 'x' });
  const r3 = await w.c.request('PATCH', '/v1/hosts/no-such-host', { cluster: 'c1' });
  t.same([r1.status, r2.status, r3.status], [404, 404, 404]);
  t.same(w.counts(), before, 'no host_admin row');
});

t.test('prototype keys in a body are data, never a way to a role', async (t) => {
  for (const body of [
    '{"__proto__": {"role": "admin"}, "name": "pp1", "vcpus": 1, "memoryMiB": 64, "diskGiB": 0}',
    '{"constructor": {"prototype": {"role": "admin"}}, "name": "pp2", "vcpus": 1, "memoryMiB": 64, "diskGiB": 0}',
  ]) {
    const r = await fetch(`${w.c.url}/v1/types`, {
      method: 'POST',
      headers: { authorization: `Bearer ${w.fx.tokens.userA}`, 'content-type': 'application/json' },
      body,
    });
    t.equal(r.status, 403, 'a user still cannot create instance types');
  }
  const me = await w.c.request('GET', '/v1/users/me', undefined, w.fx.tokens.userA);
  t.equal(me.body.role, 'user');
  t.equal(({} as Record<string, unknown>)['role'], undefined, 'Object.prototype untouched in this process too');
  void fc;
});
