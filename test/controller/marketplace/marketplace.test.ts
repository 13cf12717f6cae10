// The site Marketplace on real controllers: publish checked against the trust store (unknown endorser,
// tampered field, expired, revoked key each refused with its rule), list and search by status, os,
// arch, endorser, tag and words, deprecation by the endorser, the trust store through the CLI, and
// replication between two controllers on this machine where an entry tampered in transit is refused
// and logged while the others are taken.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildEntry, signEntry } from '../../../common/marketplace-sign.ts';
import { digestStream } from '../../../common/marketplace-verify.ts';
import { parseOpensshPrivateKey, type SshPrivateKey } from '../../../common/openssh-private-key.ts';
import { canonicalJson, type MarketplaceEntry } from '../../../protocol/marketplace.ts';
import { type ControllerHandle, startController } from '../../helpers/controller-process.ts';
import { waitFor } from '../../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'stratus-market-'));
const key = (name: string, type: string): { file: string; priv: SshPrivateKey } => {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', type, '-C', name, '-f', file]);
  return { file, priv: parseOpensshPrivateKey(readFileSync(file, 'utf8')) };
};
const alice = key('alice', 'ed25519');
const bob = key('bob', 'rsa');
const mallory = key('mallory', 'ed25519');

async function signed(
  k: SshPrivateKey,
  email: string,
  content: string,
  extra: Partial<MarketplaceEntry> = {},
  days = 30,
  now?: Date,
) {
  const f = await digestStream(
    (async function* () {
      yield Buffer.from(content);
    })(),
  );
  const entry = {
    ...buildEntry(f, k.publicBlob, { email, format: 'raw', validDays: days, ...(now ? { now } : {}) }),
    ...extra,
  };
  return { entry, signature: signEntry(entry, k) };
}

let a: ControllerHandle;
let b: ControllerHandle;
let proxy: Server;
t.before(async () => {
  a = await startController();
  // a man in the middle between the sites: serves A's feed with one entry's title changed
  proxy = createServer(async (_req, res) => {
    const feed = (await (await fetch(`${a.url}/v1/marketplace/feed`)).json()) as {
      items: { entry: MarketplaceEntry }[];
    };
    for (const i of feed.items) if (i.entry.title === 'tamper me') i.entry.title = 'tampered';
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(feed));
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const port = (proxy.address() as { port: number }).port;
  b = await startController({
    extraToml: `[marketplace]\nmirrors = ["${a.url}/v1/marketplace/feed", "http://127.0.0.1:${port}/feed"]\nmirror_interval_s = 3600\n`,
  });
});
t.teardown(async () => {
  await a?.cleanup();
  await b?.cleanup();
  proxy?.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('trust store through the CLI; publish refusals name the rule', async (t) => {
  const add = await a.cli(['market', 'trust', 'add', 'alice@example.org', `${alice.file}.pub`]);
  t.equal(add.code, 0, add.stderr);
  t.equal((await a.cli(['market', 'trust', 'add', 'bob@example.org', `${bob.file}.pub`])).code, 0);
  const list = await a.cli(['market', 'trust', 'list']);
  t.match(list.stdout, /alice@example.org\s+trusted/);
  t.match(list.stdout, /stratus@test\s+trusted\s+site key/, 'the site key is trusted for the site endorser');

  const e1 = await signed(alice.priv, 'alice@example.org', 'image one', {
    os: 'debian',
    osArch: 'x86_64',
    tags: ['base'],
    title: 'Debian base',
  });
  writeFileSync(join(dir, 'e1.json'), canonicalJson(e1.entry));
  writeFileSync(join(dir, 'e1.json.sig'), e1.signature);
  const pub = await a.cli(['market', 'publish', join(dir, 'e1.json')]);
  t.equal(pub.code, 0, pub.stderr);
  t.match(pub.stdout, `${e1.entry.id} published (valid)`);

  const refusals: [string, { entry: unknown; signature: string }, RegExp][] = [
    [
      'unknown endorser',
      await signed(mallory.priv, 'mallory@example.org', 'x'),
      /not in the site trust store \(rule: unknown-endorser\)/,
    ],
    [
      'key used for another e-mail',
      await signed(alice.priv, 'bob@example.org', 'x'),
      /not bob@example.org \(rule: unknown-endorser\)/,
    ],
    ['tampered field', { ...e1, entry: { ...e1.entry, os: 'windows' } }, /rule: signature/],
    [
      'expired',
      await signed(alice.priv, 'alice@example.org', 'old', {}, 1, new Date(Date.now() - 5 * 86_400_000)),
      /expired at .*rule: expired/,
    ],
  ];
  for (const [what, body, re] of refusals) {
    const r = await a.request('POST', '/v1/marketplace', body);
    t.equal(r.status, 422, what);
    t.equal(r.body.code, 'STRATUS_ERR_IMAGE_REFUSED', what);
    t.match(r.body.detail ?? r.body.title, re, what);
  }
});

t.test('list and search by status, os, arch, endorser, tag and words; deprecation by the endorser', async (t) => {
  const e2 = await signed(bob.priv, 'bob@example.org', 'image two', {
    os: 'alma',
    osArch: 'aarch64',
    title: 'Alma for ARM',
    tags: ['hpc'],
  });
  t.equal((await a.request('POST', '/v1/marketplace', e2)).status, 201);
  const ids = async (q: string) =>
    ((await a.request('GET', `/v1/marketplace${q}`)).body.items as { entry: MarketplaceEntry }[]).map(
      (i) => i.entry.title,
    );
  t.same((await ids('')).sort(), ['Alma for ARM', 'Debian base']);
  t.same(await ids('?os=debian'), ['Debian base']);
  t.same(await ids('?arch=aarch64'), ['Alma for ARM']);
  t.same(await ids('?endorser=bob@example.org'), ['Alma for ARM']);
  t.same(await ids('?tag=base'), ['Debian base']);
  t.same(await ids('?q=arm'), ['Alma for ARM']);
  const search = await a.cli(['market', 'search', 'debian', '--arch', 'x86_64']);
  t.match(search.stdout, /Debian base/);
  t.notMatch(search.stdout, /Alma/);

  const dep = await a.cli(['market', 'deprecate', e2.entry.id, '--key', bob.file, '--reason', 'superseded by 9.5']);
  t.equal(dep.code, 0, dep.stderr);
  t.same(await ids(''), ['Debian base'], 'deprecated entries leave the default (valid) list');
  t.same(await ids('?status=deprecated'), ['Alma for ARM']);
  const show = await a.cli(['market', 'show', e2.entry.id]);
  t.match(show.stdout, /deprecated\s+superseded by 9.5/);
  const wrongKey = await a.cli(['market', 'deprecate', e2.entry.id, '--key', alice.file]);
  t.equal(wrongKey.code, 4, 'only the endorser key can deprecate an entry');
});

t.test('replication between two controllers: verified against the local trust store, tampering refused', async (t) => {
  const e3 = await signed(alice.priv, 'alice@example.org', 'image three', { title: 'tamper me' });
  t.equal((await a.request('POST', '/v1/marketplace', e3)).status, 201);
  t.equal((await b.cli(['market', 'trust', 'add', 'alice@example.org', `${alice.file}.pub`])).code, 0);
  const pull = await b.request('POST', '/v1/marketplace/mirrors/pull');
  t.equal(pull.status, 200);
  const [direct, mitm] = pull.body.items;
  t.equal(direct.ok, true);
  t.equal(direct.result.refused.length, 1, "bob's entry is refused: B does not trust bob");
  t.match(direct.result.refused[0].reason, /rule: unknown-endorser/);
  t.ok(
    mitm.result.refused.some((r: { entry: string; rule: string }) => r.entry === e3.entry.id && r.rule === 'signature'),
    'tampered in transit',
  );
  const titles = (
    (await b.request('GET', '/v1/marketplace?status=all')).body.items as { entry: MarketplaceEntry; origin: string }[]
  ).map((i) => [i.entry.title, i.origin]);
  t.same(titles.map(([x]) => x).sort(), ['Debian base', 'tamper me'], 'only verified entries are kept, untampered');
  t.ok(
    titles.every(([, o]) => String(o).startsWith('http://')),
    'origin is the mirror URL',
  );
  await waitFor(
    'the refusal in the log',
    async () => (/replicated entry refused.*rule: signature/.test(b.output()) ? true : undefined),
    10_000,
    100,
  );

  // revoking alice's key on B: her replicated entries are now refused (listing flags them)
  const fp = (await b.request('GET', '/v1/marketplace/trust')).body.items.find(
    (k: { email: string }) => k.email === 'alice@example.org',
  ).fingerprint;
  t.equal((await b.cli(['market', 'trust', 'revoke', fp, '--reason', 'key leaked'])).code, 0);
  const after = (await b.request('GET', '/v1/marketplace?status=all')).body.items as { refused?: string }[];
  t.ok(
    after.every((i) => /key leaked\) \(rule: revoked\)/.test(i.refused ?? '')),
    'every entry of a revoked key is refused',
  );
  const again = await b.request('POST', '/v1/marketplace', e3);
  t.equal(again.status, 422);
  t.match(again.body.detail ?? again.body.title, /rule: revoked/);
});
