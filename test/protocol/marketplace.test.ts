// Marketplace entries as pure data: canonical JSON (sorted keys, no whitespace, integers only), the id
// derived from the SHA-256 and back, and each refusal of verifyEntry naming its rule.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { FileTrust, parseAllowedSigners } from '../../common/allowed-signers.ts';
import { buildEntry, deprecatedVersion, signEntry } from '../../common/marketplace-sign.ts';
import { digestStream, verifyEntry } from '../../common/marketplace-verify.ts';
import { parseOpensshPrivateKey } from '../../common/openssh-private-key.ts';
import { canonicalJson, MarketplaceId, marketplaceId, sha256OfId } from '../../protocol/marketplace.ts';
import { problems } from '../../common/validate.ts';

t.test('canonical JSON sorts keys at every level, drops undefined, has no whitespace', async (t) => {
  t.equal(canonicalJson({ b: 1, a: [{ d: 'x', c: null }], e: undefined }), '{"a":[{"c":null,"d":"x"}],"b":1}');
  t.equal(canonicalJson({ s: 'é\n"' }), '{"s":"é\\n\\""}');
  t.throws(() => canonicalJson({ x: 1.5 }), /integers only/);
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const clean = JSON.parse(
        JSON.stringify(v, (_k, x) =>
          typeof x === 'number' ? (Number.isSafeInteger(Math.trunc(x)) ? Math.trunc(x) || 0 : 0) : x,
        ),
      );
      const c = canonicalJson(clean);
      return canonicalJson(JSON.parse(c)) === c && !/\n/.test(c);
    }),
  );
});

t.test('the Marketplace id is the base64url SHA-256 and decodes back to it', async () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (b) => {
      const hex = Buffer.from(b).toString('hex');
      const id = marketplaceId(hex);
      return id.length === 43 && sha256OfId(id) === hex && problems(MarketplaceId, id).length === 0;
    }),
  );
});

t.test('verifyEntry: good entry, then each refusal names its rule', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-entry-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const mk = (n: string) => {
    execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', n, '-f', join(dir, n)]);
    return {
      priv: parseOpensshPrivateKey(readFileSync(join(dir, n), 'utf8')),
      pub: readFileSync(join(dir, `${n}.pub`), 'utf8'),
    };
  };
  const alice = mk('alice');
  const mallory = mk('mallory');
  const image = Buffer.from('an image that is not very large');
  const file = await digestStream(
    (async function* () {
      yield image;
    })(),
  );
  const entry = buildEntry(file, alice.priv.publicBlob, {
    email: 'alice@example.org',
    format: 'raw',
    validDays: 30,
    os: 'debian',
  });
  const signature = signEntry(entry, alice.priv);
  const lines = parseAllowedSigners(`alice@example.org ${alice.pub}`);
  const trust = new FileTrust(lines);
  const ok = verifyEntry({ entry, signature }, { trust, file });
  t.ok(ok.ok, 'signed entry with its image verifies');

  const rule = (v: ReturnType<typeof verifyEntry>) => (v.ok ? 'ok' : v.rule);
  const other = await digestStream(
    (async function* () {
      yield Buffer.from('An image that is not very large');
    })(),
  );
  t.equal(rule(verifyEntry({ entry, signature }, { trust, file: other })), 'checksum', 'tampered image byte');
  t.equal(
    rule(verifyEntry({ entry: { ...entry, os: 'windows' }, signature }, { trust })),
    'signature',
    'tampered field',
  );
  t.equal(rule(verifyEntry({ entry, signature }, { trust, now: new Date(Date.now() + 31 * 86_400_000) })), 'expired');
  t.equal(
    rule(verifyEntry({ entry, signature }, { trust: new FileTrust(lines, new Set([lines[0]!.fingerprint])) })),
    'revoked',
  );
  t.equal(
    rule(
      verifyEntry(
        { entry, signature },
        { trust: new FileTrust(parseAllowedSigners(`alice@example.org ${mallory.pub}`)) },
      ),
    ),
    'unknown-endorser',
  );
  t.equal(
    rule(
      verifyEntry({ entry, signature }, { trust: new FileTrust(parseAllowedSigners(`bob@example.org ${alice.pub}`)) }),
    ),
    'unknown-endorser',
    'key trusted for another e-mail',
  );
  const forged = { ...entry, endorser: { ...entry.endorser, key: lines[0]!.fingerprint } };
  t.equal(
    rule(verifyEntry({ entry: forged, signature: signEntry(forged, mallory.priv) }, { trust })),
    'key-mismatch',
    'signed by another key',
  );
  const dep = deprecatedVersion(entry, 'CVE-2026-0001');
  t.equal(rule(verifyEntry({ entry: dep, signature: signEntry(dep, alice.priv) }, { trust })), 'deprecated');
  t.ok(verifyEntry({ entry: dep, signature: signEntry(dep, alice.priv) }, { trust, allowDeprecated: true }).ok);
  const v = verifyEntry({ entry: { ...entry, bytes: 'many' }, signature }, { trust });
  t.equal(rule(v), 'schema');
  t.match(
    !v.ok && v.reason,
    /entry \S+ by alice@example.org: .*rule: schema/,
    'the reason names entry, endorser and rule',
  );
  const badId = { ...entry, id: marketplaceId('00'.repeat(32)) };
  t.equal(rule(verifyEntry({ entry: badId, signature: signEntry(badId, alice.priv) }, { trust })), 'id');
});
