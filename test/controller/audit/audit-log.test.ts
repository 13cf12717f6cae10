// The audit log with a real controller and agent: a VM creation, a refused request and the commands the
// controller sends to the host are recorded with who, what, when and the outcome; request bodies are
// summarised (long texts and secrets never stored); `GET /v1/audit` and `stratus audit` are for admins.

import t from 'tap';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import { startController } from '../../helpers/controller-process.ts';
import { waitFor } from '../../helpers/wait.ts';

const c = await startController();
t.teardown(() => c.cleanup());
await c.agent('hv-audit');
await uploadTestGuest(c, 'auditguest');

interface Entry {
  actor: string;
  kind: string;
  action: string;
  target: string;
  status: number | null;
  outcome: string;
  code: string | null;
  summary: Record<string, unknown>;
  source: string | null;
  at: string;
}
const audit = async (q = '') => (await c.request('GET', `/v1/audit${q}`)).body.items as Entry[];

t.test('a VM creation, its deploy command and its deletion are recorded', async (t) => {
  const secretish = 'x'.repeat(5000);
  const created = await c.request('POST', '/v1/vms', {
    name: 'audited',
    type: 'm1.small',
    image: 'auditguest',
    context: { userData: `#cloud-config\n# ${secretish}` },
  });
  t.equal(created.status, 202, JSON.stringify(created.body));
  const id = created.body.items[0].id as string;
  await waitFor(
    'the deploy command in the audit log',
    async () => ((await audit()).some((e) => e.kind === 'command' && e.action === 'deploy') ? true : undefined),
    120_000,
    250,
  );
  const entries = await audit();
  const create = entries.find((e) => e.action === 'POST /v1/vms');
  t.match(create, { actor: 'admin', kind: 'api', status: 202, outcome: 'ok', source: /127\.0\.0\.1/ });
  t.match(create?.summary, { name: 'audited', type: 'm1.small', image: 'auditguest', context: '{userData}' });
  t.notOk(JSON.stringify(entries).includes(secretish), 'the user data is not stored');
  const deploy = entries.find((e) => e.kind === 'command' && e.action === 'deploy');
  t.match(deploy, { target: 'hv-audit', outcome: 'ok' });
  t.notOk(JSON.stringify(deploy).includes('token='), 'no capability URL in the command record');

  const del = await c.request('DELETE', `/v1/vms/${id}`);
  t.ok(del.status === 202 || del.status === 204, `delete: ${del.status}`);
  await waitFor(
    'the delete command in the audit log',
    async () => ((await audit()).some((e) => e.kind === 'command' && e.action === 'delete') ? true : undefined),
    120_000,
    250,
  );
  t.match(
    (await audit()).find((e) => e.action === 'DELETE /v1/vms/:id'),
    { actor: 'admin', target: `/v1/vms/${id}` },
  );
});

t.test('refused and failed requests are recorded with their code', async (t) => {
  t.equal((await c.request('POST', '/v1/vms', { name: 'x' }, 'st_not_a_token')).status, 401);
  t.equal((await c.request('POST', '/v1/vms', { name: 'bad name!', type: 'm1.small', image: 'x' })).status, 400);
  const users = await c.request('POST', '/v1/users', { name: 'mallory' });
  const token = users.body.token as string;
  t.equal((await c.request('GET', '/v1/audit', undefined, token)).status, 403, 'users may not read the audit log');
  const entries = await audit();
  t.match(
    entries.find((e) => e.status === 401),
    { actor: 'anonymous', action: 'POST /v1/vms', outcome: 'error', code: 'STRATUS_ERR_UNAUTHORIZED' },
  );
  t.match(
    entries.find((e) => e.status === 400),
    { actor: 'admin', code: 'STRATUS_ERR_VALIDATION' },
  );
  t.match(
    entries.find((e) => e.status === 403),
    { actor: 'mallory', action: 'GET /v1/audit' },
  );
  const created = entries.find((e) => e.action === 'POST /v1/users');
  t.match(created, { actor: 'admin', status: 201, summary: { name: 'mallory' } });
  t.notOk(JSON.stringify(entries).includes(token), 'no token in the audit log');
});

t.test('stratus audit: table, --json, --user, --since; admins only', async (t) => {
  const table = await c.cli(['audit', '--since', '1h']);
  t.equal(table.code, 0, table.stderr);
  t.match(table.stdout, /^TIME\s+WHO\s+FROM\s+WHAT\s+RESULT\s+CODE/);
  t.match(table.stdout, /admin\s+127\.0\.0\.1\s+POST \/v1\/vms\s+202/);
  t.match(table.stdout, /deploy → hv-audit\s+ok/);
  const json = await c.cli(['audit', '--user', 'mallory', '--json']);
  t.equal(json.code, 0, json.stderr);
  const items = JSON.parse(json.stdout).items as Entry[];
  t.ok(items.length > 0 && items.every((e) => e.actor === 'mallory'), '--user filters');
  const future = await c.cli(['audit', '--since', new Date(Date.now() + 3_600_000).toISOString(), '--json']);
  t.same(JSON.parse(future.stdout).items, [], '--since filters');
  const bad = await c.cli(['audit', '--since', 'yesterday']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--since must be a duration/);
  const users = await c.request('POST', '/v1/users', { name: 'eve' });
  const denied = await c.cli(['audit'], users.body.token);
  t.equal(denied.code, 6, 'a user is not allowed');
});
