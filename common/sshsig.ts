// SSH signatures: the SSHSIG format of `ssh-keygen -Y sign` (OpenSSH PROTOCOL.sshsig), made and
// checked with Node's crypto so that verification never spawns a process. A signature covers
//   "SSHSIG" || string(namespace) || string("") || string(hash_alg) || string(H(message))
// and is stored as "SSHSIG" || uint32(1) || string(public key) || string(namespace) || string("")
// || string(hash_alg) || string(signature), base64 in -----BEGIN SSH SIGNATURE----- armour (70 columns).
// Keys: ssh-ed25519 (Ed25519) and ssh-rsa, whose signatures are rsa-sha2-512 (rsa-sha2-256 is accepted
// on verification; SHA-1 `ssh-rsa` signatures are refused, as OpenSSH does). Hash: sha512 (what
// ssh-keygen writes) or sha256.

import { createHash, createPublicKey, type KeyObject, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { StratusError } from './errors.ts';
import type { SshPrivateKey } from './openssh-private-key.ts';
import { MIN_RSA_BITS } from './ssh-public-key.ts';
import { WireReader, WireWriter } from './ssh-wire.ts';

const MAGIC = 'SSHSIG';
const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';

/** A signature that does not parse or does not verify; `reason` says why in one line. */
export class SignatureError extends StratusError {
  constructor(reason: string) {
    super('STRATUS_ERR_SIGNATURE', reason, { status: 400 });
  }
}

const bad = (why: string) => new SignatureError(`bad SSH signature: ${why}`);

export interface SshSignature {
  /** The signer's public key blob (SSH wire format). */
  publicKey: Buffer;
  namespace: string;
  hashAlgorithm: 'sha256' | 'sha512';
  /** rsa-sha2-512, rsa-sha2-256 or ssh-ed25519 */
  signatureAlgorithm: string;
  signature: Buffer;
}

export interface SigningPublicKey {
  algorithm: 'ssh-ed25519' | 'ssh-rsa';
  key: KeyObject;
  blob: Buffer;
  /** `SHA256:` + unpadded base64, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** An ed25519 or RSA public key from its wire blob (the base64 field of a .pub line, decoded). */
export function signingKeyFromBlob(blob: Buffer): SigningPublicKey {
  const r = new WireReader(blob, (why) => bad(`public key: ${why}`));
  const algorithm = r.text();
  let key: KeyObject;
  try {
    if (algorithm === 'ssh-ed25519') {
      const pk = r.string();
      r.end();
      if (pk.length !== 32) throw bad('an ed25519 key has 32 bytes');
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: pk.toString('base64url') }, format: 'jwk' });
    } else if (algorithm === 'ssh-rsa') {
      const e = r.mpint();
      const n = r.mpint();
      r.end();
      key = createPublicKey({
        key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') },
        format: 'jwk',
      });
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < MIN_RSA_BITS) throw bad(`RSA keys need at least ${MIN_RSA_BITS} bits (this one has ${bits})`);
    } else {
      throw bad(`unsupported key type ${algorithm} (ssh-ed25519 or ssh-rsa)`);
    }
  } catch (err) {
    if (err instanceof SignatureError) throw err;
    throw bad(`invalid public key (${(err as Error).message})`);
  }
  return { algorithm, key, blob, fingerprint: fingerprintOf(blob) };
}

/** A public key from an OpenSSH .pub line ("ssh-ed25519 AAAA... comment"). */
export function signingKeyFromLine(line: string): SigningPublicKey & { comment: string } {
  const m = /^\s*(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*))?$/.exec(line.trim());
  if (!m) throw bad('expected a public key line "TYPE BASE64 [COMMENT]"');
  const k = signingKeyFromBlob(Buffer.from(m[2]!, 'base64'));
  if (k.algorithm !== m[1]) throw bad(`the key says ${k.algorithm} but the line says ${m[1]}`);
  return { ...k, comment: (m[3] ?? '').trim() };
}

export function publicKeyLine(k: { algorithm: string; blob: Buffer }, comment = ''): string {
  return `${k.algorithm} ${k.blob.toString('base64')}${comment ? ` ${comment}` : ''}`;
}

function signedData(namespace: string, hashAlgorithm: string, message: Buffer): Buffer {
  const digest = createHash(hashAlgorithm).update(message).digest();
  return new WireWriter().raw(MAGIC).string(namespace).string('').string(hashAlgorithm).string(digest).toBuffer();
}

export function parseSignature(armored: string): SshSignature {
  const text = armored.trim();
  if (!text.startsWith(BEGIN) || !text.endsWith(END)) throw bad(`expected ${BEGIN} ... ${END}`);
  const body = text.slice(BEGIN.length, -END.length).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw bad('the armour is not base64');
  const r = new WireReader(Buffer.from(body, 'base64'), bad);
  if (r.bytes(6).toString('latin1') !== MAGIC) throw bad('missing the SSHSIG preamble');
  const version = r.uint32();
  if (version !== 1) throw bad(`unsupported SSHSIG version ${version}`);
  const publicKey = r.string();
  const namespace = r.text();
  r.string(); // reserved
  const hashAlgorithm = r.text();
  if (hashAlgorithm !== 'sha256' && hashAlgorithm !== 'sha512') throw bad(`unsupported hash ${hashAlgorithm}`);
  const sig = new WireReader(r.string(), bad);
  r.end();
  const signatureAlgorithm = sig.text();
  const signature = sig.string();
  sig.end();
  return { publicKey, namespace, hashAlgorithm, signatureAlgorithm, signature };
}

export function serializeSignature(s: SshSignature): string {
  const sigBlob = new WireWriter().string(s.signatureAlgorithm).string(s.signature).toBuffer();
  const blob = new WireWriter()
    .raw(MAGIC)
    .uint32(1)
    .string(s.publicKey)
    .string(s.namespace)
    .string('')
    .string(s.hashAlgorithm)
    .string(sigBlob)
    .toBuffer();
  const b64 = blob.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 70) lines.push(b64.slice(i, i + 70));
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

/** Signs `message` as `ssh-keygen -Y sign -n NAMESPACE` does (sha512), returning the armoured text. */
export function signMessage(message: Buffer, key: SshPrivateKey, namespace: string): string {
  const data = signedData(namespace, 'sha512', message);
  const rsa = key.algorithm === 'ssh-rsa';
  const signature = cryptoSign(rsa ? 'sha512' : null, data, key.key);
  return serializeSignature({
    publicKey: key.publicBlob,
    namespace,
    hashAlgorithm: 'sha512',
    signatureAlgorithm: rsa ? 'rsa-sha2-512' : 'ssh-ed25519',
    signature,
  });
}

/**
 * Checks that `armored` is a valid signature of `message` in `namespace` by the key it carries, and
 * returns that key (whether the key is trusted is the caller's question). Throws SignatureError.
 */
export function verifyMessage(message: Buffer, armored: string, namespace: string): SigningPublicKey {
  const s = parseSignature(armored);
  if (s.namespace !== namespace) throw bad(`made for namespace "${s.namespace}", not "${namespace}"`);
  const key = signingKeyFromBlob(s.publicKey);
  let digest: string | null;
  if (key.algorithm === 'ssh-ed25519' && s.signatureAlgorithm === 'ssh-ed25519') digest = null;
  else if (key.algorithm === 'ssh-rsa' && s.signatureAlgorithm === 'rsa-sha2-512') digest = 'sha512';
  else if (key.algorithm === 'ssh-rsa' && s.signatureAlgorithm === 'rsa-sha2-256') digest = 'sha256';
  else throw bad(`signature algorithm ${s.signatureAlgorithm} is not accepted for a ${key.algorithm} key`);
  const data = signedData(namespace, s.hashAlgorithm, message);
  let ok = false;
  try {
    ok = cryptoVerify(digest, data, key.key, s.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new SignatureError(`the signature does not match the signed data (key ${key.fingerprint})`);
  return key;
}
