// `stratus image sign` and `stratus image verify` as an endorser and a site use them: entries signed by
// Stratus verify with `ssh-keygen -Y verify`, entries signed by `ssh-keygen -Y sign` verify with Stratus,
// and a tampered image byte, a tampered field, an expired entry, a revoked key and an unknown endorser
// each exit 1 with the reason (ed25519 and RSA keys made by ssh-keygen).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { run } from '../../cli/main.ts';
import { buildEntry } from '../../common/marketplace-sign.ts';
import { digestStream } from '../../common/marketplace-verify.ts';
import { signingKeyFromLine } from '../../common/sshsig.ts';
import { canonicalJson } from '../../protocol/marketplace.ts';

const dir = mkdtempSync(join(tmpdir(), 'stratus-image-sign-'));
process.env['XDG_CONFIG_HOME'] = join(dir, 'config');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(
    argv,
    (s) => (stdout += `${s}\n`),
    (s) => (stderr += `${s}\n`),
  );
  return { code, stdout, stderr };
}

const keygen = (name: string, type: string) => {
  const f = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', type, '-C', name, '-f', f]);
  return f;
};

const image = join(dir, 'disk.img');
writeFileSync(image, Buffer.alloc(64 * 1024, 7));

for (const type of ['ed25519', 'rsa']) {
  t.test(`${type}: sign, verify, and interoperate with ssh-keygen -Y`, async (t) => {
    const key = keygen(`endorser-${type}`, type);
    const signers = join(dir, `${type}.allowed_signers`);
    writeFileSync(signers, `alice@example.org ${readFileSync(`${key}.pub`, 'utf8')}`);
    const entry = join(dir, `${type}.entry.json`);
    const s = await cli(
      'image',
      'sign',
      image,
      '--key',
      key,
      '--endorser',
      'alice@example.org',
      '--os',
      'debian',
      '--os-version',
      '12',
      '--arch',
      'x86_64',
      '--location',
      'http://images.example.org/disk.img',
      '--location',
      'http://mirror.example.org/disk.img',
      '--valid-days',
      '30',
      '--tag',
      'base',
      '--out',
      entry,
    );
    t.equal(s.code, 0, s.stderr);
    const e = JSON.parse(readFileSync(entry, 'utf8'));
    t.equal(readFileSync(entry, 'utf8'), canonicalJson(e), 'ENTRY.json is written in canonical form');
    t.same(
      [e.os, e.osVersion, e.osArch, e.locations.length, e.format, e.tags],
      ['debian', '12', 'x86_64', 2, 'raw', ['base']],
    );
    t.equal(e.endorser.key, signingKeyFromLine(readFileSync(`${key}.pub`, 'utf8')).fingerprint);

    const good = await cli('image', 'verify', image, entry, '--allowed-signers', signers);
    t.equal(good.code, 0, good.stderr);
    t.match(good.stdout, /good entry .* by alice@example.org/);

    const sk = execFileSync(
      'ssh-keygen',
      ['-Y', 'verify', '-f', signers, '-I', 'alice@example.org', '-n', 'stratus-image', '-s', `${entry}.sig`],
      { input: readFileSync(entry), encoding: 'utf8' },
    );
    t.match(sk, /Good "stratus-image" signature/, 'ssh-keygen -Y verify accepts the entry as written');

    // an endorser who signs with ssh-keygen itself: canonical entry, then `ssh-keygen -Y sign`
    const expired = buildEntry(
      await digestStream(
        (async function* () {
          yield readFileSync(image);
        })(),
      ),
      signingKeyFromLine(readFileSync(`${key}.pub`, 'utf8')).blob,
      { email: 'alice@example.org', format: 'raw', validDays: 2, now: new Date(Date.now() - 10 * 86_400_000) },
    );
    const old = join(dir, `${type}.old.json`);
    writeFileSync(old, canonicalJson(expired));
    execFileSync('ssh-keygen', ['-Y', 'sign', '-q', '-f', key, '-n', 'stratus-image', old]);
    const exp = await cli('image', 'verify', image, old, '--allowed-signers', signers);
    t.equal(exp.code, 1, 'expired entry (signed by ssh-keygen -Y sign) is refused');
    t.match(exp.stderr, /expired at .*rule: expired/);
    const fresh = { ...expired, validUntil: '2999-01-01T00:00:00Z' };
    writeFileSync(old, canonicalJson(fresh));
    rmSync(`${old}.sig`);
    execFileSync('ssh-keygen', ['-Y', 'sign', '-q', '-f', key, '-n', 'stratus-image', old]);
    t.equal(
      (await cli('image', 'verify', image, old, '--trust', `${key}.pub`)).code,
      0,
      'ssh-keygen signature accepted',
    );

    const tamperedImage = join(dir, `${type}.tampered.img`);
    const bytes = readFileSync(image);
    bytes[1000] = bytes[1000]! ^ 1;
    writeFileSync(tamperedImage, bytes);
    const ti = await cli('image', 'verify', tamperedImage, entry, '--allowed-signers', signers);
    t.equal(ti.code, 1);
    t.match(ti.stderr, /the image sha256 is .*rule: checksum/, 'tampered image byte');

    const tf = join(dir, `${type}.tf.json`);
    writeFileSync(tf, JSON.stringify({ ...e, os: 'windows' }));
    writeFileSync(`${tf}.sig`, readFileSync(`${entry}.sig`));
    const tfr = await cli('image', 'verify', image, tf, '--allowed-signers', signers);
    t.equal(tfr.code, 1);
    t.match(tfr.stderr, /signature does not match .*rule: signature/, 'tampered metadata field');

    const revoked = await cli('image', 'verify', image, entry, '--allowed-signers', signers, '--revoked', `${key}.pub`);
    t.equal(revoked.code, 1);
    t.match(revoked.stderr, /is revoked \(rule: revoked\)/, 'revoked key');

    const stranger = keygen(`stranger-${type}`, type);
    const unknown = await cli('image', 'verify', image, entry, '--trust', `${stranger}.pub`);
    t.equal(unknown.code, 1);
    t.match(unknown.stderr, /not a trusted endorser key \(rule: unknown-endorser\)/, 'unknown endorser');
  });
}

t.test('usage errors: no trust given, encrypted key', async (t) => {
  const none = await cli('image', 'verify', image, join(dir, 'ed25519.entry.json'));
  t.equal(none.code, 2);
  t.match(none.stderr, /give trusted keys with --trust/);
  const enc = join(dir, 'enc');
  execFileSync('ssh-keygen', ['-q', '-N', 'pass phrase', '-t', 'ed25519', '-f', enc]);
  const r = await cli('image', 'sign', image, '--key', enc, '--endorser', 'a@example.org');
  t.equal(r.code, 2);
  t.match(r.stderr, /the key is encrypted/);
});
