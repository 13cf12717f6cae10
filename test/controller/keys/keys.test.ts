// Users' SSH keys and each VM's context on a real controller: keys per user (another user's key is a
// 404), the default key and its promotion, validation with readable 4xx; `vm create` with keys, user
// data, variables and a context method stored with the VM and shown by `vm show` as fingerprints and
// sizes, never contents; bad user data refused before anything is created; the CLI's key commands,
// its per-option help and the closest option for a mistyped one.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ADMIN_TOKEN, type ControllerHandle, startController } from '../../helpers/controller-process.ts';
import { sha256File } from '../../helpers/file-server.ts';
import { testGuest } from '../../helpers/guest.ts';

let c: ControllerHandle;
let alice: string;
let bob: string;
const keys: Record<string, { pub: string; fp: string }> = {};

function keygen(dir: string, name: string, type: string): { pub: string; fp: string } {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', type, '-C', `${name}@test`, '-f', file]);
  const fp = execFileSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { pub: readFileSync(`${file}.pub`, 'utf8').trim(), fp };
}

t.before(async () => {
  c = await startController();
  const mk = async (name: string) => (await c.request('POST', '/v1/users', { name })).body.token as string;
  alice = await mk('alice');
  bob = await mk('bob');
  mkdirSync(join(c.dir, 'ssh'), { recursive: true });
  keys['a1'] = keygen(join(c.dir, 'ssh'), 'a1', 'ed25519');
  keys['a2'] = keygen(join(c.dir, 'ssh'), 'a2', 'ecdsa');
  keys['b1'] = keygen(join(c.dir, 'ssh'), 'b1', 'ed25519');
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

t.test('keys are per user: add, list, default, delete; 404 across users; readable 4xx', async (t) => {
  const a1 = await c.request('POST', '/v1/keys', { name: 'laptop', publicKey: keys['a1']!.pub }, alice);
  t.equal(a1.status, 201, a1.body.title);
  t.match(a1.body, { name: 'laptop', type: 'ed25519', bits: 256, fingerprint: keys['a1']!.fp, default: true });
  const a2 = await c.request('POST', '/v1/keys', { name: 'desk', publicKey: keys['a2']!.pub }, alice);
  t.equal(a2.body.default, false, 'the first key is the default, not the second');
  const dup = await c.request('POST', '/v1/keys', { name: 'again', publicKey: keys['a1']!.pub }, alice);
  t.equal(dup.status, 409);
  t.match(dup.body.title, /already added as laptop/);
  const sameName = await c.request('POST', '/v1/keys', { name: 'laptop', publicKey: keys['b1']!.pub }, alice);
  t.equal(sameName.status, 409);
  const bad = await c.request('POST', '/v1/keys', { name: 'bad', publicKey: 'ssh-rsa AAAA' }, alice);
  t.equal(bad.status, 400);
  t.match(bad.body.title, /not a usable OpenSSH public key/);
  t.equal((await c.request('POST', '/v1/keys', { name: 'laptop', publicKey: keys['b1']!.pub }, bob)).status, 201);

  t.equal((await c.request('GET', '/v1/keys/desk', undefined, bob)).status, 404, "alice's key is not bob's");
  t.equal((await c.request('DELETE', '/v1/keys/desk', undefined, bob)).status, 404);
  t.equal((await c.request('POST', '/v1/keys/desk/default', {}, bob)).status, 404);
  const bobs = (await c.request('GET', '/v1/keys', undefined, bob)).body.items;
  t.same(
    bobs.map((k: { fingerprint: string }) => k.fingerprint),
    [keys['b1']!.fp],
    "bob's list holds his key only",
  );

  t.equal((await c.request('POST', '/v1/keys/desk/default', {}, alice)).body.default, true);
  let list = (await c.request('GET', '/v1/keys', undefined, alice)).body.items;
  t.same(
    list.map((k: { name: string; default: boolean }) => [k.name, k.default]),
    [
      ['desk', true],
      ['laptop', false],
    ],
  );
  t.equal((await c.request('DELETE', '/v1/keys/desk', undefined, alice)).status, 204);
  list = (await c.request('GET', '/v1/keys', undefined, alice)).body.items;
  t.same(
    list.map((k: { name: string; default: boolean }) => [k.name, k.default]),
    [['laptop', true]],
    'deleting the default promotes the remaining key',
  );
});

t.test('vm create stores the context; vm show gives fingerprints and sizes, not contents', async (t) => {
  const userData = '#cloud-config\nwrite_files:\n  - path: /run/marker\n    content: "secret-marker"\n';
  const r = await c.request(
    'POST',
    '/v1/vms',
    {
      name: 'ctx',
      type: 't1.micro',
      image: 'disk',
      context: {
        userData,
        loginUser: 'alice',
        method: 'nocloud',
        variables: { DB_PASSWORD: 'hunter2', ROLE: 'web' },
      },
    },
    alice,
  );
  t.equal(r.status, 202, r.body.title);
  const vm = r.body.items[0];
  t.same(vm.context, {
    method: 'nocloud',
    loginUser: 'alice',
    keys: [{ name: 'laptop', type: 'ed25519', fingerprint: keys['a1']!.fp }],
    userDataBytes: Buffer.byteLength(userData),
    startScriptBytes: 0,
    variables: ['DB_PASSWORD', 'ROLE'],
  });
  const shown = await c.request('GET', `/v1/vms/${vm.id}`, undefined, alice);
  t.notMatch(JSON.stringify(shown.body), /hunter2|secret-marker|AAAA/, 'no secret, no user data, no key material');
  const cli = await c.cli(['vm', 'show', vm.id], alice);
  t.equal(cli.code, 0, cli.stderr);
  t.match(cli.stdout, new RegExp(`key +laptop ed25519 ${keys['a1']!.fp.replace(/[+/]/g, '\\$&')}`));
  t.match(cli.stdout, /user data +\d+ bytes/);

  const site = await c.request('POST', '/v1/vms', { name: 'plain', type: 't1.micro', image: 'disk' }, bob);
  t.equal(site.body.items[0].context.method, 'opennebula', "no method: the site's default");
  t.equal(site.body.items[0].context.keys[0].name, 'laptop', "no --key: the user's default key (bob's own)");
  t.equal(site.body.items[0].context.keys[0].fingerprint, keys['b1']!.fp);
});

t.test('bad context is refused before anything is created', async (t) => {
  const before = (await c.request('GET', '/v1/vms', undefined, alice)).body.items.length;
  const cases: [string, unknown, number, RegExp][] = [
    ['a key of another user', { keys: ['nope'] }, 404, /key nope not found/],
    ['user data cloud-init would not run', { userData: 'hello' }, 400, /must start with #cloud-config, #!/],
    ['broken YAML', { userData: '#cloud-config\nfoo: [1, 2\n' }, 400, /not valid YAML/],
    ['user data over 256 KiB', { userData: `#!/bin/sh\n${'x'.repeat(262_144)}` }, 400, /userData|256 KiB/],
    ['a bad variable name', { variables: { 'bad-name': 'x' } }, 400, /invalid context variable name bad-name/],
    ['a bad login user', { loginUser: 'Root!' }, 400, /Unix user name/],
    ['an unknown method', { method: 'ec2' }, 400, /method/],
  ];
  for (const [what, context, status, msg] of cases) {
    const r = await c.request('POST', '/v1/vms', { name: 'bad', type: 't1.micro', image: 'disk', context }, alice);
    t.equal(r.status, status, `${what}: ${status}`);
    t.match(r.body.title, msg, `${what}: ${r.body.title}`);
  }
  t.equal((await c.request('GET', '/v1/vms', undefined, alice)).body.items.length, before, 'no VM was created');
});

t.test('CLI: key add (default file), list, default, delete; vm create context options', async (t) => {
  const home = join(c.dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  writeFileSync(join(home, '.ssh', 'id_rsa.pub'), `${keygen(c.dir, 'carol-rsa', 'rsa').pub}\n`);
  const token = (await c.request('POST', '/v1/users', { name: 'carol' })).body.token as string;
  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        ['bin/stratus.js', ...args],
        { env: { ...process.env, HOME: home, STRATUS_URL: c.url, STRATUS_TOKEN: token } },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
  const added = await cli(['key', 'add', 'work']);
  t.equal(added.code, 0, added.stderr);
  t.match(added.stdout, /^work rsa SHA256:\S+ \(default\)$/m, 'no FILE: ~/.ssh/id_ed25519.pub, then id_rsa.pub');
  const second = join(c.dir, 'ssh', 'a2.pub');
  t.equal((await cli(['key', 'add', 'other', second])).code, 0);
  t.equal((await cli(['key', 'default', 'other'])).code, 0);
  const list = await cli(['key', 'list']);
  t.match(list.stdout, /^NAME +TYPE +BITS +FINGERPRINT/);
  t.match(list.stdout, new RegExp(`^other +ecdsa +256 +${keys['a2']!.fp.replace(/[+/]/g, '\\$&')} .*\\*$`, 'm'));
  const missing = await cli(['key', 'add', 'x', join(home, 'nope.pub')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /cannot read .*nope\.pub: ENOENT/);
  const priv = await cli(['key', 'add', 'x', join(c.dir, 'ssh', 'a2')]);
  t.not(priv.code, 0, 'a private key is refused');

  const ud = join(c.dir, 'ud.sh');
  writeFileSync(ud, '#!/bin/sh\necho hi > /run/ud-ran\n');
  const vars = join(c.dir, 'vars.env');
  writeFileSync(vars, '# comment\nROLE=db\nURL=http://x/?a=b\n');
  const created = await cli([
    'vm',
    'create',
    'cctx',
    '--type',
    't1.micro',
    '--image',
    'disk',
    '--key',
    'work',
    '--key',
    'other',
    '--user-data',
    ud,
    '--context-file',
    vars,
    '--context',
    'ROLE=web',
    '--login-user',
    'carol',
    '--context-method',
    'nocloud',
    '--json',
  ]);
  t.equal(created.code, 0, created.stderr);
  const ctx = JSON.parse(created.stdout).items[0].context;
  t.same(
    ctx.keys.map((k: { name: string }) => k.name),
    ['work', 'other'],
  );
  t.same(ctx.variables, ['ROLE', 'URL']);
  t.equal(ctx.loginUser, 'carol');
  const badVar = await cli(['vm', 'create', 'x', '--type', 't1.micro', '--image', 'disk', '--context', 'lower=1']);
  t.equal(badVar.code, 2);
  t.match(badVar.stderr, /variable names are A-Z/);
  t.equal((await cli(['key', 'delete', 'other'])).code, 0);
  t.equal((await cli(['key', 'delete', 'other'])).code, 4, 'gone: not found');
});

t.test('CLI help lists every option with its meaning; a mistyped option names the closest', async (t) => {
  const { commands, run } = await import('../../../cli/main.ts');
  for (const cmd of commands) {
    // in-process: one CLI process per command would take minutes on a loaded machine
    let stdout = '';
    const code = await run(
      [...cmd.words.split(' '), '--help'],
      (s) => (stdout += s),
      () => undefined,
    );
    const h = { code, stdout };
    t.equal(h.code, 0, `${cmd.words} --help`);
    t.notMatch(h.stdout, /\[\.\.\.\]/, `${cmd.words}: no [...]`);
    for (const [name, o] of Object.entries(cmd.options ?? {})) {
      t.match(h.stdout, new RegExp(`--${name}\\b.* {2}\\S`), `${cmd.words} --help shows --${name}`);
      t.ok(o.help.length > 0, `${cmd.words} --${name} has a meaning`);
    }
  }
  const upload = await c.cli(['image', 'upload', '--help']);
  for (const o of ['--kernel IMAGE', '--ramdisk IMAGE', '--cmdline TEXT', '--os OS']) t.match(upload.stdout, o);
  const typo = await c.cli(['vm', 'create', 'x', '--user-dat', 'f']);
  t.equal(typo.code, 2);
  t.match(typo.stderr, /unknown option --user-dat for vm create; did you mean --user-data\?/);
  const far = await c.cli(['vm', 'list', '--zzzzzzzz']);
  t.notMatch(far.stderr, /did you mean/, 'nothing close: no guess');
  t.equal(ADMIN_TOKEN.length > 0, true);
});

t.test(
  'vm create --disk grows the root disk; --readonly-disk attaches images; instance types carry swap',
  async (t) => {
    const created = await c.cli(
      [
        'vm',
        'create',
        'disky',
        '--type',
        't1.micro',
        '--image',
        'disk',
        '--disk',
        '3',
        '--readonly-disk',
        'disk',
        '--json',
      ],
      alice,
    );
    t.equal(created.code, 0, created.stderr);
    const vm = JSON.parse(created.stdout).items[0];
    t.equal(vm.diskGiB, 3, 'the root disk size asked for');
    const image = (await c.request('GET', '/v1/images/disk', undefined, alice)).body.id;
    t.same(vm.readonlyImages, [image]);
    const missing = await c.request(
      'POST',
      '/v1/vms',
      { name: 'x', type: 't1.micro', image: 'disk', readonlyImages: ['nope'] },
      alice,
    );
    t.equal(missing.status, 404);
    t.equal((await c.cli(['vm', 'create', 'x', '--type', 't1.micro', '--image', 'disk', '--disk', '0'])).code, 2);
    const types = (await c.request('GET', '/v1/types', undefined, alice)).body.items;
    t.same(
      types.map((x: { name: string; vcpus: number; memoryMiB: number; swapMiB: number }) => [
        x.name,
        x.vcpus,
        x.memoryMiB,
        x.swapMiB,
      ]),
      [
        ['t1.micro', 1, 512, 512],
        ['c1.medium', 2, 1536, 1536],
        ['m1.small', 1, 1536, 1536],
        ['m1.medium', 1, 3072, 3072],
        ['c1.xlarge', 4, 6144, 6144],
        ['m1.large', 2, 6144, 6144],
        ['m1.xlarge', 4, 8192, 8192],
      ].sort(
        (a, b) =>
          Number(a[1]) - Number(b[1]) || Number(a[2]) - Number(b[2]) || String(a[0]).localeCompare(String(b[0])),
      ),
      "StratusLab's catalogue, swap equal to memory",
    );
    const made = await c.cli([
      'type',
      'create',
      'x1.tiny',
      '--vcpus',
      '1',
      '--memory',
      '128',
      '--swap',
      '64',
      '--json',
    ]);
    t.equal(made.code, 0, made.stderr);
    t.equal(JSON.parse(made.stdout).swapMiB, 64);
    t.equal((await c.cli(['type', 'delete', 'x1.tiny'])).code, 0);
  },
);
