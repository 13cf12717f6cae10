// OpenSSH public keys ("ssh-ed25519 AAAA... comment"): parsed from the wire format, checked by Node's
// crypto (the point is on its curve, the RSA modulus is at least 2048 bits), and fingerprinted as
// `ssh-keygen -lf` does (SHA256 of the key blob, unpadded base64). Only ed25519, ECDSA (NIST P-256,
// P-384, P-521) and RSA keys are accepted; options, certificates and DSA keys are refused.

import { createHash, createPublicKey } from 'node:crypto';
import { ValidationError } from './errors.ts';

export type SshKeyType = 'ed25519' | 'ecdsa' | 'rsa';

export interface SshPublicKey {
  /** The key's algorithm name as written in the file (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa). */
  algorithm: string;
  type: SshKeyType;
  bits: number;
  /** `SHA256:` + unpadded base64 of the SHA-256 of the key blob, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  comment: string;
  /** The key as one line, normalised: `algorithm base64 [comment]`. */
  line: string;
}

export const MIN_RSA_BITS = 2048;
const CURVES: Record<string, { crv: string; bits: number; point: number }> = {
  nistp256: { crv: 'P-256', bits: 256, point: 65 },
  nistp384: { crv: 'P-384', bits: 384, point: 97 },
  nistp521: { crv: 'P-521', bits: 521, point: 133 },
};

const bad = (why: string) => new ValidationError(`not a usable OpenSSH public key: ${why}`);

/** Reads the length-prefixed strings of the SSH wire format. */
class Wire {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  next(): Buffer {
    if (this.at + 4 > this.buf.length) throw bad('the key data is truncated');
    const n = this.buf.readUInt32BE(this.at);
    if (this.at + 4 + n > this.buf.length) throw bad('the key data is truncated');
    const out = this.buf.subarray(this.at + 4, this.at + 4 + n);
    this.at += 4 + n;
    return out;
  }
  end(): void {
    if (this.at !== this.buf.length) throw bad('the key data has trailing bytes');
  }
}

/** An mpint without its sign byte, as an unsigned big-endian integer. */
function unsigned(mpint: Buffer): Buffer {
  if (mpint.length > 0 && mpint[0]! & 0x80) throw bad('negative RSA parameter');
  let i = 0;
  while (i < mpint.length - 1 && mpint[i] === 0) i++;
  return mpint.subarray(i);
}

function bitLength(n: Buffer): number {
  if (n.length === 0) return 0;
  return (n.length - 1) * 8 + (32 - Math.clz32(n[0]!));
}

const b64url = (b: Buffer) => b.toString('base64url');

function check(jwk: Record<string, string>): void {
  try {
    createPublicKey({ key: jwk, format: 'jwk' });
  } catch (err) {
    throw bad(`the key material is invalid (${(err as Error).message})`);
  }
}

/** Parses one OpenSSH public key line; throws ValidationError saying what is wrong. */
export function parseSshPublicKey(text: string): SshPublicKey {
  const line = text.trim();
  if (line.includes('\n')) throw bad('give one key (one line)');
  if (/^-----BEGIN/.test(line)) throw bad('this is a PEM file; give the .pub file (OpenSSH format)');
  const m = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*))?$/.exec(line);
  if (!m) throw bad('expected "TYPE BASE64 [COMMENT]" as in ~/.ssh/id_ed25519.pub');
  const [, algorithm, data, comment = ''] = m as unknown as [string, string, string, string | undefined];
  if (/[\x00-\x1f\x7f]/.test(comment)) throw bad('the comment holds control characters');
  const blob = Buffer.from(data, 'base64');
  const w = new Wire(blob);
  const inner = w.next().toString('latin1');
  if (inner !== algorithm) throw bad(`the key says ${inner} but the line says ${algorithm}`);
  let type: SshKeyType;
  let bits: number;
  if (algorithm === 'ssh-ed25519') {
    const pk = w.next();
    w.end();
    if (pk.length !== 32) throw bad('an ed25519 key has 32 bytes');
    check({ kty: 'OKP', crv: 'Ed25519', x: b64url(pk) });
    type = 'ed25519';
    bits = 256;
  } else if (algorithm.startsWith('ecdsa-sha2-')) {
    const curveName = w.next().toString('latin1');
    const q = w.next();
    w.end();
    const curve = CURVES[curveName];
    if (!curve || algorithm !== `ecdsa-sha2-${curveName}`) throw bad(`unsupported ECDSA curve ${curveName}`);
    if (q.length !== curve.point || q[0] !== 0x04) throw bad('the ECDSA point is not an uncompressed point');
    const half = (q.length - 1) / 2;
    check({ kty: 'EC', crv: curve.crv, x: b64url(q.subarray(1, 1 + half)), y: b64url(q.subarray(1 + half)) });
    type = 'ecdsa';
    bits = curve.bits;
  } else if (algorithm === 'ssh-rsa') {
    const e = unsigned(w.next());
    const n = unsigned(w.next());
    w.end();
    bits = bitLength(n);
    if (bits < MIN_RSA_BITS) throw bad(`RSA keys need at least ${MIN_RSA_BITS} bits (this one has ${bits})`);
    if (bits > 16384) throw bad('RSA keys of more than 16384 bits are not accepted');
    check({ kty: 'RSA', n: b64url(n), e: b64url(e) });
    type = 'rsa';
  } else if (algorithm === 'ssh-dss') {
    throw bad('DSA keys are no longer accepted by OpenSSH; use ed25519');
  } else {
    throw bad(`unsupported key type ${algorithm} (use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa)`);
  }
  const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  const c = comment.trim();
  return { algorithm, type, bits, fingerprint, comment: c, line: `${algorithm} ${data}${c ? ` ${c}` : ''}` };
}
