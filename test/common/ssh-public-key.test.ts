// OpenSSH public keys: every kind ssh-keygen makes is parsed with the type, size and fingerprint that
// `ssh-keygen -lf` prints; short RSA, DSA, PEM, private keys, mismatched or tampered blobs are refused
// with a readable reason.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ValidationError } from '../../common/errors.ts';
import { parseSshPublicKey } from '../../common/ssh-public-key.ts';

const dir = mkdtempSync(join(tmpdir(), 'stratus-sshkey-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function keygen(name: string, args: string[]): { pub: string; lf: string; priv: string } {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-N', '', '-C', `${name}@test`, '-f', file, ...args]);
  return {
    pub: readFileSync(`${file}.pub`, 'utf8'),
    lf: execFileSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' }).trim(),
    priv: readFileSync(file, 'utf8'),
  };
}

t.test('ed25519, ECDSA (256, 384, 521) and RSA keys fingerprint as ssh-keygen -lf does', async (t) => {
  const kinds: [string, string[], string, number][] = [
    ['ed', ['-t', 'ed25519'], 'ed25519', 256],
    ['ec256', ['-t', 'ecdsa', '-b', '256'], 'ecdsa', 256],
    ['ec384', ['-t', 'ecdsa', '-b', '384'], 'ecdsa', 384],
    ['ec521', ['-t', 'ecdsa', '-b', '521'], 'ecdsa', 521],
    ['rsa2048', ['-t', 'rsa', '-b', '2048'], 'rsa', 2048],
    ['rsa3072', ['-t', 'rsa', '-b', '3072'], 'rsa', 3072],
  ];
  for (const [name, args, type, bits] of kinds) {
    const g = keygen(name, args);
    const k = parseSshPublicKey(g.pub);
    const [lfBits, lfPrint] = g.lf.split(' ');
    t.equal(k.type, type, `${name}: type`);
    t.equal(k.bits, bits, `${name}: bits`);
    t.equal(String(k.bits), lfBits, `${name}: bits as ssh-keygen says`);
    t.equal(k.fingerprint, lfPrint, `${name}: fingerprint ${lfPrint}`);
    t.equal(k.comment, `${name}@test`);
    t.equal(k.line, g.pub.trim(), `${name}: the line is kept as written`);
    t.throws(() => parseSshPublicKey(g.priv), ValidationError, `${name}: a private key is refused`);
  }
});

t.test('refused: short RSA, DSA, unknown types, PEM, options, mismatches, tampering', async (t) => {
  const rsa1024 = keygen('rsa1024', ['-t', 'rsa', '-b', '1024']).pub;
  t.throws(() => parseSshPublicKey(rsa1024), /at least 2048 bits \(this one has 1024\)/);
  const ed = keygen('ed2', ['-t', 'ed25519']).pub.trim();
  const [, b64] = ed.split(' ');
  t.throws(() => parseSshPublicKey(`ssh-rsa ${b64}`), /the key says ssh-ed25519 but the line says ssh-rsa/);
  t.throws(() => parseSshPublicKey(`from="10.0.0.1" ${ed}`), /unsupported key type|expected/);
  t.throws(() => parseSshPublicKey('ssh-dss AAAAB3NzaC1kc3MAAACBAP'), /DSA keys|truncated/);
  t.throws(() => parseSshPublicKey('-----BEGIN PUBLIC KEY-----\nMCow\n-----END PUBLIC KEY-----'), /one key|PEM/);
  t.throws(() => parseSshPublicKey('just-one-word'), /expected "TYPE BASE64/);
  t.throws(() => parseSshPublicKey(`${ed}\n${ed}`), /one key/);
  const blob = Buffer.from(b64!, 'base64');
  t.throws(() => parseSshPublicKey(`ssh-ed25519 ${blob.subarray(0, blob.length - 3).toString('base64')}`), /truncated/);
  t.throws(
    () => parseSshPublicKey(`ssh-ed25519 ${Buffer.concat([blob, Buffer.from([0])]).toString('base64')}`),
    /trailing bytes/,
  );
  // an ECDSA point moved off its curve
  const ec = keygen('ec-bad', ['-t', 'ecdsa', '-b', '256']).pub.trim().split(' ');
  const ecBlob = Buffer.from(ec[1]!, 'base64');
  ecBlob[ecBlob.length - 1]! ^= 0x01;
  t.throws(() => parseSshPublicKey(`${ec[0]} ${ecBlob.toString('base64')}`), /key material is invalid/);
  t.throws(() => parseSshPublicKey(`${ed.split(' ').slice(0, 2).join(' ')} evil\x1b[2Jcomment`), /control characters/);
});
