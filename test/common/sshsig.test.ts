// SSH signatures (SSHSIG) made and checked in Node: round trips for ed25519 and RSA keys parsed from
// OpenSSH private key files, `ssh-keygen -Y verify` accepting what Stratus signs, Stratus accepting what
// `ssh-keygen -Y sign` makes, and refusals for a changed message, namespace or damaged armour.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseOpensshPrivateKey } from '../../common/openssh-private-key.ts';
import {
  parseSignature,
  SignatureError,
  serializeSignature,
  signingKeyFromLine,
  signMessage,
  verifyMessage,
} from '../../common/sshsig.ts';

const dir = mkdtempSync(join(tmpdir(), 'stratus-sshsig-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const NS = 'stratus-image';

function keygen(name: string, args: string[], pass = ''): string {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-N', pass, '-C', `${name}@example.org`, '-f', file, ...args]);
  return file;
}

for (const [kind, args] of [
  ['ed25519', ['-t', 'ed25519']],
  ['rsa', ['-t', 'rsa', '-b', '3072']],
] as const) {
  t.test(`${kind}: Stratus signatures verify with ssh-keygen -Y verify, and the other way round`, async (t) => {
    const key = keygen(kind, [...args]);
    const priv = parseOpensshPrivateKey(readFileSync(key, 'utf8'));
    const pub = signingKeyFromLine(readFileSync(`${key}.pub`, 'utf8'));
    t.ok(priv.publicBlob.equals(pub.blob), 'the private key file carries the .pub key');
    const fp = execFileSync('ssh-keygen', ['-lf', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1];
    t.equal(pub.fingerprint, fp, 'fingerprint as ssh-keygen -lf prints it');

    const msg = Buffer.from(`{"hello":"${kind}"}`);
    const msgFile = join(dir, `${kind}.msg`);
    writeFileSync(msgFile, msg);
    const signers = join(dir, `${kind}.allowed`);
    writeFileSync(signers, `me@example.org ${readFileSync(`${key}.pub`, 'utf8')}`);

    const ours = signMessage(msg, priv, NS);
    writeFileSync(`${msgFile}.sig`, ours);
    const out = execFileSync(
      'ssh-keygen',
      ['-Y', 'verify', '-f', signers, '-I', 'me@example.org', '-n', NS, '-s', `${msgFile}.sig`],
      { input: msg, encoding: 'utf8' },
    );
    t.match(out, /Good "stratus-image" signature for me@example.org/, 'ssh-keygen accepts the Stratus signature');
    if (kind === 'rsa') t.equal(parseSignature(ours).signatureAlgorithm, 'rsa-sha2-512');

    const theirsFile = join(dir, `${kind}.theirs`);
    writeFileSync(theirsFile, msg);
    execFileSync('ssh-keygen', ['-Y', 'sign', '-q', '-f', key, '-n', NS, theirsFile]);
    const theirs = readFileSync(`${theirsFile}.sig`, 'utf8');
    t.equal(verifyMessage(msg, theirs, NS).fingerprint, pub.fingerprint, 'Stratus accepts the ssh-keygen signature');
    t.equal(serializeSignature(parseSignature(theirs)), theirs, 'parse/serialize round trip is byte-exact');

    t.throws(() => verifyMessage(Buffer.from(`${msg}x`), theirs, NS), SignatureError, 'a changed message is refused');
    t.throws(() => verifyMessage(msg, theirs, 'file'), /namespace "stratus-image", not "file"/, 'wrong namespace');
    const lines = theirs.split('\n');
    lines[2] = lines[2]!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
    t.throws(() => verifyMessage(msg, lines.join('\n'), NS), SignatureError, 'a damaged signature is refused');
  });
}

t.test('encrypted keys are refused with a clear message; PEM keys are pointed to ssh-keygen -p', async (t) => {
  const key = keygen('enc', ['-t', 'ed25519'], 'secret passphrase');
  t.throws(() => parseOpensshPrivateKey(readFileSync(key, 'utf8')), /the key is encrypted \(aes256-ctr, bcrypt\)/);
  t.throws(
    () => parseOpensshPrivateKey('-----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END RSA PRIVATE KEY-----'),
    /PEM key/,
  );
  t.throws(() => parseOpensshPrivateKey('hello'), /BEGIN OPENSSH PRIVATE KEY/);
});

t.test('ECDSA keys are refused for signing with the supported types named', async (t) => {
  const key = keygen('ec', ['-t', 'ecdsa']);
  t.throws(() => parseOpensshPrivateKey(readFileSync(key, 'utf8')), /unsupported key type ecdsa-sha2-nistp256/);
  t.throws(() => signingKeyFromLine(readFileSync(`${key}.pub`, 'utf8')), /unsupported key type/);
});

t.test('a generated site key is an OpenSSH key ssh-keygen reads', async (t) => {
  const { generateOpensshEd25519 } = await import('../../common/openssh-private-key.ts');
  const file = join(dir, 'site');
  writeFileSync(file, `${generateOpensshEd25519('stratus@site')}\n`, { mode: 0o600 });
  const pub = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' });
  const k = parseOpensshPrivateKey(readFileSync(file, 'utf8'));
  t.equal(
    signingKeyFromLine(pub).fingerprint,
    signingKeyFromLine(`ssh-ed25519 ${k.publicBlob.toString('base64')}`).fingerprint,
  );
  t.equal(k.comment, 'stratus@site');
});
