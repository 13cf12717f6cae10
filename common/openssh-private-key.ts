// OpenSSH private keys (`-----BEGIN OPENSSH PRIVATE KEY-----`, the "openssh-key-v1" format of
// ssh-keygen, PROTOCOL.key) parsed in Node for signing: unencrypted ed25519 and RSA keys. Encrypted
// keys are refused with a clear message (decrypt a copy with `ssh-keygen -p`, or sign with
// `ssh-keygen -Y sign`, whose signatures Stratus accepts as they are). The check integers, the public
// key copy and the padding are verified, so a damaged file is reported instead of producing bad
// signatures.

import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { ValidationError } from './errors.ts';
import { fromBigInt, toBigInt, WireReader, WireWriter } from './ssh-wire.ts';

export interface SshPrivateKey {
  /** ssh-ed25519 or ssh-rsa */
  algorithm: 'ssh-ed25519' | 'ssh-rsa';
  key: KeyObject;
  /** The public key blob (SSH wire format), as in the .pub file. */
  publicBlob: Buffer;
  comment: string;
}

const MAGIC = 'openssh-key-v1\0';
const bad = (why: string) => new ValidationError(`not a usable OpenSSH private key: ${why}`);
const b64url = (b: Buffer) => b.toString('base64url');

function dearmor(text: string): Buffer {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (!m) {
    if (/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(text)) {
      throw bad('this is a PEM key; convert it with `ssh-keygen -p -f KEYFILE` (writes the OpenSSH format)');
    }
    throw bad('expected a -----BEGIN OPENSSH PRIVATE KEY----- file (as ssh-keygen writes)');
  }
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

/** Parses an unencrypted ed25519 or RSA OpenSSH private key file. */
export function parseOpensshPrivateKey(text: string): SshPrivateKey {
  const buf = dearmor(text);
  if (buf.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw bad('missing the openssh-key-v1 header');
  const r = new WireReader(buf.subarray(MAGIC.length), bad);
  const cipher = r.text();
  const kdf = r.text();
  r.string(); // kdf options
  if (cipher !== 'none' || kdf !== 'none') {
    throw bad(
      `the key is encrypted (${cipher}, ${kdf}); sign with \`ssh-keygen -Y sign -n stratus-image\` or use an unencrypted copy`,
    );
  }
  const n = r.uint32();
  if (n !== 1) throw bad(`the file holds ${n} keys; give a file with one key`);
  const publicBlob = r.string();
  const priv = new WireReader(r.string(), bad);
  r.end();
  const check1 = priv.uint32();
  const check2 = priv.uint32();
  if (check1 !== check2) throw bad('the check integers differ (damaged file or wrong passphrase)');
  const algorithm = priv.text();
  let key: KeyObject;
  let rebuilt: Buffer;
  if (algorithm === 'ssh-ed25519') {
    const pub = priv.string();
    const secret = priv.string();
    if (pub.length !== 32 || secret.length !== 64) throw bad('bad ed25519 key lengths');
    if (!secret.subarray(32).equals(pub)) throw bad('the ed25519 private and public halves do not match');
    key = createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: b64url(secret.subarray(0, 32)), x: b64url(pub) },
      format: 'jwk',
    });
    rebuilt = new WireWriter().string('ssh-ed25519').string(pub).toBuffer();
  } else if (algorithm === 'ssh-rsa') {
    const nMod = priv.mpint();
    const e = priv.mpint();
    const d = priv.mpint();
    const iqmp = priv.mpint();
    const p = priv.mpint();
    const q = priv.mpint();
    const D = toBigInt(d);
    try {
      key = createPrivateKey({
        key: {
          kty: 'RSA',
          n: b64url(nMod),
          e: b64url(e),
          d: b64url(d),
          p: b64url(p),
          q: b64url(q),
          dp: b64url(fromBigInt(D % (toBigInt(p) - 1n))),
          dq: b64url(fromBigInt(D % (toBigInt(q) - 1n))),
          qi: b64url(iqmp),
        },
        format: 'jwk',
      });
    } catch (err) {
      throw bad(`the RSA key is invalid (${(err as Error).message})`);
    }
    const mp = (b: Buffer) => (b.length > 0 && b[0]! & 0x80 ? Buffer.concat([Buffer.of(0), b]) : b);
    rebuilt = new WireWriter().string('ssh-rsa').string(mp(e)).string(mp(nMod)).toBuffer();
  } else {
    throw bad(`unsupported key type ${algorithm} (Stratus signs with ssh-ed25519 or ssh-rsa keys)`);
  }
  const comment = priv.text();
  const pad = priv.bytes(priv.remaining);
  if (!pad.every((b, i) => b === i + 1)) throw bad('bad padding (damaged file)');
  if (!rebuilt.equals(publicBlob)) throw bad('the public key does not match the private key');
  return { algorithm, key, publicBlob, comment };
}

/** A new Ed25519 key written in the OpenSSH format (unencrypted), as `ssh-keygen -t ed25519 -N ''` does. */
export function generateOpensshEd25519(comment: string): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' }) as { d: string; x: string };
  const seed = Buffer.from(jwk.d, 'base64url');
  const pub = Buffer.from(jwk.x, 'base64url');
  const publicBlob = new WireWriter().string('ssh-ed25519').string(pub).toBuffer();
  const check = randomBytes(4).readUInt32BE(0);
  const body = new WireWriter()
    .uint32(check)
    .uint32(check)
    .string('ssh-ed25519')
    .string(pub)
    .string(Buffer.concat([seed, pub]))
    .string(comment)
    .toBuffer();
  const padLen = (8 - (body.length % 8)) % 8;
  const priv = Buffer.concat([body, Buffer.from(Array.from({ length: padLen }, (_, i) => i + 1))]);
  const file = new WireWriter()
    .raw(Buffer.from(MAGIC, 'latin1'))
    .string('none')
    .string('none')
    .string('')
    .uint32(1)
    .string(publicBlob)
    .string(priv)
    .toBuffer()
    .toString('base64');
  const lines = file.match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----`;
}
