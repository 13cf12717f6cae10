// Checking a Marketplace entry, the same way everywhere (`stratus image verify`, the controller when an
// entry is published or replicated, the agent before every launch): the entry's shape, its SSH
// signature over the canonical form, that the signing key is the one the entry names, that the key is
// trusted for the endorser's e-mail and not revoked, that the id belongs to the SHA-256, that the entry
// is within its validity and not deprecated, and (when the image is at hand) the image's size and
// digests. Each refusal names the rule that failed, the entry and the endorser.

import { createHash } from 'node:crypto';
import {
  MARKETPLACE_NAMESPACE,
  MarketplaceEntry,
  marketplaceId,
  type SignedEntry,
  signedBytes,
} from '../protocol/marketplace.ts';
import { SignatureError, type SigningPublicKey, verifyMessage } from './sshsig.ts';
import { problems } from './validate.ts';

export type RefusalRule =
  | 'schema'
  | 'signature'
  | 'key-mismatch'
  | 'unknown-endorser'
  | 'revoked'
  | 'id'
  | 'not-yet-valid'
  | 'expired'
  | 'deprecated'
  | 'size'
  | 'checksum';

export type Verdict =
  | { ok: true; entry: MarketplaceEntry; key: SigningPublicKey }
  | { ok: false; rule: RefusalRule; reason: string; entryId?: string; endorser?: string };

/** What a trust store says about a key. */
export type TrustAnswer = { trusted: true } | { trusted: false; rule: 'unknown-endorser' | 'revoked'; why: string };

export interface TrustLookup {
  /** Is the key with this fingerprint trusted to sign for this e-mail? */
  check(fingerprint: string, email: string): TrustAnswer;
}

export interface FileDigests {
  bytes: number;
  sha256: string;
  sha512: string;
  sha1: string;
  md5: string;
}

export interface VerifyOptions {
  trust: TrustLookup;
  now?: Date;
  /** The image's digests, when the image itself is checked too. */
  file?: FileDigests;
  /** Accept deprecated entries (listing and replication do; launches and `image verify` do not). */
  allowDeprecated?: boolean;
  /** Accept expired entries (replication keeps them so that `?status=expired` lists them). */
  allowExpired?: boolean;
}

/** Digests of a stream of bytes (a file being read), all at once. */
export async function digestStream(chunks: AsyncIterable<Buffer>): Promise<FileDigests> {
  const h = {
    sha256: createHash('sha256'),
    sha512: createHash('sha512'),
    sha1: createHash('sha1'),
    md5: createHash('md5'),
  };
  let bytes = 0;
  for await (const c of chunks) {
    bytes += c.length;
    for (const x of Object.values(h)) x.update(c);
  }
  return {
    bytes,
    sha256: h.sha256.digest('hex'),
    sha512: h.sha512.digest('hex'),
    sha1: h.sha1.digest('hex'),
    md5: h.md5.digest('hex'),
  };
}

export function verifyEntry(signed: { entry: unknown; signature: string }, o: VerifyOptions): Verdict {
  const raw = signed.entry as Partial<MarketplaceEntry> | null;
  const named = {
    ...(typeof raw?.id === 'string' ? { entryId: raw.id } : {}),
    ...(typeof raw?.endorser?.email === 'string' ? { endorser: raw.endorser.email } : {}),
  };
  const refuse = (rule: RefusalRule, reason: string): Verdict => ({
    ok: false,
    rule,
    reason: `entry ${named.entryId ?? '?'} by ${named.endorser ?? '?'}: ${reason} (rule: ${rule})`,
    ...named,
  });
  const bad = problems(MarketplaceEntry, raw);
  if (bad.length > 0) {
    return refuse('schema', `not a version 1 entry: ${bad.map((p) => `${p.path} ${p.message}`).join('; ')}`);
  }
  const entry = raw as MarketplaceEntry;
  let key: SigningPublicKey;
  try {
    key = verifyMessage(signedBytes(entry), signed.signature, MARKETPLACE_NAMESPACE);
  } catch (err) {
    if (err instanceof SignatureError) return refuse('signature', err.message);
    throw err;
  }
  if (key.fingerprint !== entry.endorser.key) {
    return refuse('key-mismatch', `signed by key ${key.fingerprint}, but the entry names ${entry.endorser.key}`);
  }
  const t = o.trust.check(key.fingerprint, entry.endorser.email);
  if (!t.trusted) return refuse(t.rule, t.why);
  if (marketplaceId(entry.checksums.sha256) !== entry.id) {
    return refuse('id', `the id is not derived from sha256 ${entry.checksums.sha256}`);
  }
  const now = (o.now ?? new Date()).getTime();
  if (Date.parse(entry.created) > now + 5 * 60_000)
    return refuse('not-yet-valid', `created in the future (${entry.created})`);
  if (!o.allowExpired && Date.parse(entry.validUntil) <= now)
    return refuse('expired', `expired at ${entry.validUntil}`);
  if (!o.allowDeprecated && entry.deprecated !== undefined)
    return refuse('deprecated', `deprecated: ${entry.deprecated}`);
  if (o.file) {
    const f = o.file;
    if (f.bytes !== entry.bytes) return refuse('size', `the image has ${f.bytes} bytes, the entry says ${entry.bytes}`);
    for (const alg of ['sha256', 'sha512', 'sha1', 'md5'] as const) {
      const want = entry.checksums[alg];
      if (want !== undefined && want !== f[alg]) {
        return refuse('checksum', `the image ${alg} is ${f[alg]}, the entry says ${want}`);
      }
    }
  }
  return { ok: true, entry, key };
}

/** Status of an entry for listings: deprecated wins over expired. */
export function entryStatus(e: MarketplaceEntry, now = new Date()): 'valid' | 'expired' | 'deprecated' {
  if (e.deprecated !== undefined) return 'deprecated';
  return Date.parse(e.validUntil) <= now.getTime() ? 'expired' : 'valid';
}

export type { SignedEntry };
