// The `stratus` CLI against a real controller: exit codes scripts can trust, one readable error line,
// tables or --json, and the network commands.
import t from 'tap';
import { type ControllerHandle, startController } from '../helpers/controller-process.ts';

let c: ControllerHandle;
t.before(async () => {
  c = await startController();
});
t.teardown(() => c.cleanup());

t.test('exit codes and errors: usage 2, cannot connect 3, not found 4, not allowed 6; one readable line', async (t) => {
  const usage = await c.cli(['vm', 'create', 'x']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /vm create needs --type and --image/);
  t.equal((await c.cli(['vm', 'frobnicate'])).code, 2);
  const missing = await c.cli(['vm', 'show', '00000000-0000-4000-8000-000000000000']);
  t.equal(missing.code, 4);
  t.equal(missing.stderr.trim().split('\n').length, 1, 'one line');
  t.match(missing.stderr, /^stratus: VM 00000000-0000-4000-8000-000000000000 not found \(STRATUS_ERR_NOT_FOUND\)/);
  const denied = await c.cli(['vm', 'list'], 'st_not_a_token');
  t.equal(denied.code, 6);
  t.match(denied.stderr, /invalid bearer token/);
  const { execFile } = await import('node:child_process');
  const unreachable = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      ['bin/stratus.js', 'vm', 'list'],
      { env: { ...process.env, STRATUS_URL: 'http://127.0.0.1:9', STRATUS_TOKEN: 'x' } },
      (err, _o, stderr) => resolve({ code: Number((err as { code?: number } | null)?.code ?? 0), stderr }),
    ),
  );
  t.equal(unreachable.code, 3);
  t.match(unreachable.stderr, /cannot reach the controller at http:\/\/127.0.0.1:9/);
  const help = await c.cli(['--help']);
  t.equal(help.code, 0);
  for (const w of ['vm create', 'image upload', 'net create', 'net leases', 'host disable', 'type list'])
    t.match(help.stdout, w);
  t.match((await c.cli(['--version'])).stdout, /^stratus \d+\.\d+\.\d+/);
});

t.test('stratus net: create, list, hold, leases, release, delete (tables and --json)', async (t) => {
  const suffix = Math.random().toString(36).slice(2, 7);
  const name = `cli-${suffix}`;
  const created = await c.cli([
    'net',
    'create',
    name,
    '--bridge',
    `brc${suffix}`,
    '--cidr',
    '10.215.3.0/24',
    '--gateway',
    '10.215.3.1',
    '--dns',
    '10.215.3.53',
    '--json',
  ]);
  t.equal(created.code, 0, created.stderr);
  const id = JSON.parse(created.stdout).id as string;
  const listed = await c.cli(['net', 'list']);
  t.match(listed.stdout, /ID\s+NAME\s+BRIDGE\s+IPV4/);
  t.match(listed.stdout, new RegExp(`${id}\\s+${name}\\s+brc${suffix}\\s+10\\.215\\.3\\.0/24`));
  const hold = await c.cli([
    'net',
    'hold',
    name,
    '--ipv4',
    '10.215.3.77',
    '--mac',
    '02:00:00:aa:bb:cc',
    '--note',
    'printer',
    '--json',
  ]);
  t.equal(hold.code, 0, hold.stderr);
  const holdId = JSON.parse(hold.stdout).id as string;
  const leases = await c.cli(['net', 'leases', name]);
  t.match(leases.stdout, new RegExp(`${holdId}\\s+hold\\s+02:00:00:aa:bb:cc\\s+10\\.215\\.3\\.77`));
  const busy = await c.cli(['net', 'delete', name]);
  t.equal(busy.code, 5, 'a network with holds cannot be deleted: conflict');
  t.equal((await c.cli(['net', 'release', name, holdId])).code, 0);
  t.equal((await c.cli(['net', 'delete', name])).code, 0);
  t.equal((await c.cli(['net', 'show', name])).code, 4);
});
