// Making Marketplace entries: the entry for an image from its digests and the endorser's choices
// (what `stratus image sign` and save-as build), signed with an OpenSSH private key (common/sshsig.ts).

import {
  ENTRY_VERSION,
  MARKETPLACE_NAMESPACE,
  type MarketplaceEntry,
  marketplaceId,
  signedBytes,
} from '../protocol/marketplace.ts';
import type { FileDigests } from './marketplace-verify.ts';
import type { SshPrivateKey } from './openssh-private-key.ts';
import { fingerprintOf, signMessage } from './sshsig.ts';

export interface EntryChoices {
  email: string;
  name?: string | undefined;
  format: 'qcow2' | 'raw';
  compression?: 'none' | 'gz' | 'xz' | undefined;
  validDays: number;
  locations?: string[] | undefined;
  os?: string | undefined;
  osVersion?: string | undefined;
  osArch?: string | undefined;
  hypervisor?: string | undefined;
  title?: string | undefined;
  description?: string | undefined;
  tags?: string[] | undefined;
  now?: Date;
}

/** UTC timestamps to the second (what entries hold). */
export const isoSeconds = (d: Date) => `${d.toISOString().slice(0, 19)}Z`;

export function buildEntry(f: FileDigests, keyBlob: Buffer, c: EntryChoices): MarketplaceEntry {
  const now = c.now ?? new Date();
  const e: MarketplaceEntry = {
    version: ENTRY_VERSION,
    id: marketplaceId(f.sha256),
    checksums: { sha256: f.sha256, sha512: f.sha512, sha1: f.sha1, md5: f.md5 },
    bytes: f.bytes,
    endorser: { email: c.email, key: fingerprintOf(keyBlob), ...(c.name ? { name: c.name } : {}) },
    created: isoSeconds(now),
    validUntil: isoSeconds(new Date(now.getTime() + c.validDays * 86_400_000)),
    locations: c.locations ?? [],
    format: c.format,
    compression: c.compression ?? 'none',
    hypervisor: c.hypervisor ?? 'kvm',
  };
  for (const k of ['os', 'osVersion', 'osArch', 'title', 'description'] as const) {
    if (c[k] !== undefined) e[k] = c[k];
  }
  if (c.tags && c.tags.length > 0) e.tags = c.tags;
  return e;
}

export function signEntry(entry: MarketplaceEntry, key: SshPrivateKey): string {
  return signMessage(signedBytes(entry), key, MARKETPLACE_NAMESPACE);
}

/** A new version of an entry that says it is deprecated (newer `created`), ready to be signed again. */
export function deprecatedVersion(e: MarketplaceEntry, reason: string, now = new Date()): MarketplaceEntry {
  return { ...e, created: isoSeconds(now), deprecated: reason || 'deprecated' };
}
