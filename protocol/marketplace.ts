// Marketplace entries (version 1): the signed metadata by which sites share images, after StratusLab's
// Marketplace (identifier, checksums, bytes, endorser, created, valid, deprecated, locations, os,
// os-version, os-arch, format, compression, hypervisor, title, description), as JSON signed with an SSH
// signature (namespace `stratus-image`, see common/sshsig.ts). The REST shapes of /v1/marketplace and
// of the trust store are here too.
//
// Marketplace id: the image's SHA-256 (32 bytes) in unpadded base64url, 43 characters of 6 bits each
// from `A–Z a–z 0–9 - _` (StratusLab wrote the SHA-1 the same way in 27 characters). It decodes back to
// the SHA-256, which is how every reader checks that an entry's id belongs to its checksums.
//
// Canonical form (what is signed): the entry as JSON with the keys of every object sorted (by UTF-16
// code units), no whitespace, strings escaped as JSON.stringify does, integers only, UTF-8; this is
// RFC 8785 (JCS) for the values an entry can hold. ENTRY.json files are written in this form, so
// `ssh-keygen -Y verify ... < ENTRY.json` checks them as they are.

import { createHash } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';

export const MARKETPLACE_NAMESPACE = 'stratus-image';
export const ENTRY_VERSION = 1;

const hex = (n: number, what: string) =>
  Type.String({ pattern: `^[0-9a-f]{${n}}$`, errorMessage: `must be ${n} lower-case hex digits (${what})` });
const Text = (max: number) => Type.String({ maxLength: max, pattern: '^[^\\x00-\\x08\\x0b-\\x1f]*$' });
export const Timestamp = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,3})?Z$',
  description: 'UTC time, ISO 8601 (2026-12-01T09:00:00Z)',
  errorMessage: 'must be a UTC time such as 2026-12-01T09:00:00Z',
});
export const MarketplaceId = Type.String({
  pattern: '^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$',
  description: 'base64url of the image SHA-256, 43 characters',
  errorMessage: 'must be a 43-character Marketplace id (base64url of a SHA-256)',
});
export const KeyFingerprint = Type.String({
  pattern: '^SHA256:[A-Za-z0-9+/]{43}$',
  description: 'SSH key fingerprint as `ssh-keygen -lf` prints it',
  errorMessage: 'must be an SSH key fingerprint SHA256:...',
});
export const Email = Type.String({
  minLength: 3,
  maxLength: 254,
  pattern: '^[^\\s@,]+@[^\\s@,]+$',
  errorMessage: 'must be an e-mail address',
});

export const MarketplaceEntry = Type.Object(
  {
    version: Type.Literal(ENTRY_VERSION),
    id: MarketplaceId,
    checksums: Type.Object(
      {
        sha256: hex(64, 'sha256'),
        sha512: hex(128, 'sha512'),
        sha1: Type.Optional(hex(40, 'sha1')),
        md5: Type.Optional(hex(32, 'md5')),
      },
      { additionalProperties: false, description: 'Digests of the file at every location' },
    ),
    bytes: Type.Integer({ minimum: 1, description: 'Size of the file at every location' }),
    endorser: Type.Object(
      {
        email: Email,
        key: KeyFingerprint,
        name: Type.Optional(Text(256)),
      },
      { additionalProperties: false, description: 'Who vouches for the image, and the key they sign with' },
    ),
    created: Timestamp,
    validUntil: Timestamp,
    deprecated: Type.Optional(Text(1024)),
    locations: Type.Array(Type.String({ maxLength: 4096, pattern: '^https?://[^\\x00-\\x20]+$' }), { maxItems: 16 }),
    format: Type.Union([Type.Literal('qcow2'), Type.Literal('raw')]),
    compression: Type.Union([Type.Literal('none'), Type.Literal('gz'), Type.Literal('xz')]),
    hypervisor: Type.Optional(Type.String({ maxLength: 32, pattern: '^[a-z0-9_-]+$' })),
    os: Type.Optional(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._ -]*$' })),
    osVersion: Type.Optional(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._ -]*$' })),
    osArch: Type.Optional(Type.String({ maxLength: 16, pattern: '^[a-z0-9_]+$' })),
    title: Type.Optional(Text(256)),
    description: Type.Optional(Text(4096)),
    tags: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' }), { maxItems: 32 }),
    ),
  },
  { additionalProperties: false },
);
export type MarketplaceEntry = Static<typeof MarketplaceEntry>;

/** An entry with its signature, as published to and served by /v1/marketplace. */
export const SignedEntry = Type.Object(
  {
    entry: MarketplaceEntry,
    signature: Type.String({ maxLength: 16384, description: 'Armoured SSH signature of the canonical entry' }),
  },
  { additionalProperties: false },
);
export type SignedEntry = Static<typeof SignedEntry>;

/** The derivation of the Marketplace id from the image SHA-256 (lower-case hex). */
export function marketplaceId(sha256Hex: string): string {
  return Buffer.from(sha256Hex, 'hex').toString('base64url');
}

/** The SHA-256 (lower-case hex) a Marketplace id stands for. */
export function sha256OfId(id: string): string {
  return Buffer.from(id, 'base64url').toString('hex');
}

/** Canonical JSON: sorted keys, no whitespace, integers only (see the header). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`canonical JSON holds integers only, not ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
}

/** The bytes a signature covers. */
export function signedBytes(entry: MarketplaceEntry): Buffer {
  return Buffer.from(canonicalJson(entry), 'utf8');
}

/** A short digest naming one version of an entry (id + endorser + created), for logs and the store. */
export function entryDigest(entry: MarketplaceEntry): string {
  return createHash('sha256').update(signedBytes(entry)).digest('hex');
}

// ---- REST shapes --------------------------------------------------------------------------------

export const EntryStatus = Type.Union([
  Type.Literal('valid'),
  Type.Literal('expired'),
  Type.Literal('deprecated'),
  Type.Literal('all'),
]);

export const MarketplaceQuery = Type.Object(
  {
    status: Type.Optional(EntryStatus),
    os: Type.Optional(Type.String({ maxLength: 64 })),
    arch: Type.Optional(Type.String({ maxLength: 16 })),
    endorser: Type.Optional(Type.String({ maxLength: 254 })),
    tag: Type.Optional(Type.String({ maxLength: 64 })),
    q: Type.Optional(Type.String({ maxLength: 128, description: 'Words to find in the title or description' })),
  },
  { additionalProperties: false },
);

export const MarketplaceItem = Type.Object({
  id: Type.String(),
  status: Type.String({ description: 'valid, expired or deprecated' }),
  entry: MarketplaceEntry,
  signature: Type.String(),
  origin: Type.String({ description: 'local, or the URL of the site it was replicated from' }),
  receivedAt: Type.Integer(),
});

export const TrustKeyRequest = Type.Object(
  {
    email: Email,
    publicKey: Type.String({ maxLength: 16384, description: 'OpenSSH public key line (ssh-ed25519 or ssh-rsa)' }),
    comment: Type.Optional(Text(256)),
  },
  { additionalProperties: false },
);

export const TrustKey = Type.Object({
  fingerprint: Type.String(),
  email: Type.String(),
  publicKey: Type.String(),
  comment: Type.String(),
  addedAt: Type.Integer(),
  addedBy: Type.String(),
  revokedAt: Type.Union([Type.Integer(), Type.Null()]),
  revokedReason: Type.Union([Type.String(), Type.Null()]),
});
export type TrustKey = Static<typeof TrustKey>;
