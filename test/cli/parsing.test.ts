// tier: unit
// The CLI's argument parsing and exit codes, in-process (cli/main.ts run()) against a recording HTTP server
// on 127.0.0.1 instead of a controller: usage errors exit 2 with one readable line and send nothing; the
// words and options become the documented request; API problems map to the documented exit codes.
// test/cli/cli.test.ts runs the same CLI as a process against a real controller.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../cli/client.ts';
import { run } from '../../cli/main.ts';

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: unknown;
}
const seen: Seen[] = [];
let answer: { status: number; body: unknown } = { status: 200, body: { items: [] } };
const server = createServer(async (req: IncomingMessage, res) => {
  let raw = '';
  for await (const c of req) raw += c;
  seen.push({
    method: req.method!,
    url: req.url!,
    auth: req.headers.authorization,
    body: raw ? JSON.parse(raw) : undefined,
  });
  const type = answer.status >= 400 ? 'application/problem+json' : 'application/json';
  res.writeHead(answer.status, { 'content-type': type }).end(JSON.stringify(answer.body));
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => server.close(() => r())));

// no configuration file of the person running the tests, and this server as the controller
const home = mkdtempSync(join(tmpdir(), 'stratus-cli-unit-'));
t.teardown(() => rmSync(home, { recursive: true, force: true }));
process.env['XDG_CONFIG_HOME'] = home;
process.env['STRATUS_URL'] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
process.env['STRATUS_TOKEN'] = 'st_unit_token';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  seen.length = 0;
  const code = await run(
    argv,
    (s) => out.push(s),
    (s) => err.push(s),
  );
  return { code, out: out.join('\n'), err: err.join('\n'), requests: [...seen] };
}

t.test('usage errors exit 2 with a readable message and send no request', async (t) => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /^stratus: unknown command "frobnicate"/],
    [['vm', 'frobnicate'], /^stratus: unknown command "vm frobnicate"/],
    [['vm', 'show'], /^stratus: missing argument\nusage: stratus vm show ID$/],
    [['vm', 'create', 'x'], /^stratus: vm create needs --type and --image$/],
    [
      ['vm', 'create', 'x', '--type', 'm1.small', '--image', 'debian', '--count', 'two'],
      /--count must be a whole number/,
    ],
    [['vm', 'list', '--no-such-option'], /^stratus: unknown option --no-such-option for vm list/],
    [['vm', 'create', 'x', '--type'], /^stratus: Option '--type <value>' argument missing/],
  ];
  for (const [argv, message] of cases) {
    const r = await cli(...argv);
    t.equal(r.code, EXIT.usage, `${argv.join(' ')}: exit 2`);
    t.match(r.err, message, `${argv.join(' ')}: says why`);
    t.equal(r.err.split('\n')[0]!.startsWith('stratus: '), true, 'the first line names the program');
    t.same(r.requests, [], `${argv.join(' ')}: nothing sent`);
  }
});

t.test('errors stay on one readable line: no multi-line parser messages, control characters escaped', async (t) => {
  const ambiguous = await cli('vm', 'create', 'x', '--type', '-1');
  t.equal(ambiguous.code, EXIT.usage);
  t.equal(
    ambiguous.err.split('\n')[0],
    'stratus: option --type needs a value (a value starting with "-" is written --type=-VALUE)',
  );
  t.equal(ambiguous.err.split('\n').length, 2, 'the message, then the usage line');
  const unknown = await cli('vm\u001b[2J', 'x\r\ny');
  t.equal(unknown.err, 'stratus: unknown command "vm\\u001b[2J x\\r\\ny" (stratus --help lists them)');
  answer = {
    status: 404,
    body: { title: 'VM a\u0000b\nc\u001b[31m not found', code: 'STRATUS_ERR_NOT_FOUND', status: 404 },
  };
  const echoed = await cli('vm', 'show', 'a\u0000b');
  t.equal(
    echoed.err,
    'stratus: VM a\\x00b\\x0ac\\x1b[31m not found (STRATUS_ERR_NOT_FOUND)',
    'what the API echoes is escaped',
  );
  answer = { status: 200, body: { items: [] } };
});

t.test('help and version exit 0 without a request', async (t) => {
  const help = await cli('--help');
  t.equal(help.code, EXIT.ok);
  t.match(help.out, /^Usage: stratus /);
  t.match(help.out, /Exit codes: 0 ok, 1 API error, 2 usage, 3 cannot connect, 4 not found, 5 conflict, 6 not allowed/);
  t.equal((await cli()).code, EXIT.ok, 'no arguments prints the help');
  const version = await cli('--version');
  t.match(version.out, /^stratus \d+\.\d+\.\d+/);
  const cmdHelp = await cli('vm', 'create', '--help');
  t.match(cmdHelp.out, /^usage: stratus vm create NAME --type TYPE --image IMAGE/);
  t.same([...help.requests, ...version.requests, ...cmdHelp.requests], []);
});

t.test('words and options become the request, with the token', async (t) => {
  answer = { status: 201, body: { items: [] } };
  const r = await cli(
    'vm',
    'create',
    'web',
    '--type',
    'm1.small',
    '--image',
    'debian',
    '--count',
    '3',
    '--group',
    'g',
    '--net',
    'lab',
    '--net',
    'dmz',
    '--json',
  );
  t.equal(r.code, EXIT.ok, r.err);
  t.same(r.requests, [
    {
      method: 'POST',
      url: '/v1/vms',
      auth: 'Bearer st_unit_token',
      body: {
        name: 'web',
        type: 'm1.small',
        image: 'debian',
        count: 3,
        antiAffinityGroup: 'g',
        nics: [{ network: 'lab' }, { network: 'dmz' }],
      },
    },
  ]);
  t.same(JSON.parse(r.out), { items: [] }, '--json prints the API answer');
  answer = { status: 200, body: { items: [] } };
  const flags = await cli('--token', 'st_other', 'vm', 'list');
  t.equal(flags.requests[0]?.auth, 'Bearer st_other', '--token wins over STRATUS_TOKEN');
});

t.test('API problems map to the documented exit codes, with the title and code on one line', async (t) => {
  const cases: [number, number][] = [
    [400, EXIT.api],
    [401, EXIT.auth],
    [403, EXIT.auth],
    [404, EXIT.notFound],
    [409, EXIT.conflict],
    [422, EXIT.api],
    [500, EXIT.api],
  ];
  for (const [status, exit] of cases) {
    answer = { status, body: { title: `problem ${status}`, code: 'STRATUS_ERR_TEST', status } };
    const r = await cli('vm', 'show', '00000000-0000-4000-8000-000000000000');
    t.equal(r.code, exit, `HTTP ${status} → exit ${exit}`);
    t.equal(r.err, `stratus: problem ${status} (STRATUS_ERR_TEST)`, 'one line: title and code');
  }
  const down = await cli('--url', 'http://127.0.0.1:9', 'vm', 'list');
  t.equal(down.code, EXIT.connection, 'nothing listening: exit 3');
  t.match(down.err, /^stratus: cannot reach the controller at http:\/\/127\.0\.0\.1:9/);
});
