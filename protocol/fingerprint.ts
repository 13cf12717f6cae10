// The fingerprint of a certificate as Stratus writes it (join tokens, docs): SHA-256 of the DER,
// lowercase hex without separators.

import { X509Certificate } from 'node:crypto';

export function fingerprintOf(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}
