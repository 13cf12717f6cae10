// The image policy, as StratusLab added after its 2011 incident: allow and deny lists by checksum, by
// source URL prefix and by endorser. Deny lists always win; when any allow list is set, an image must
// match at least one allow entry. Checked before any download and again before any deploy; each
// refusal is an audit record (who, which image, which checksum, when, why) and a clear error.
// An image that comes with a signed Marketplace entry (protocol/image.ts MarketplaceProof) has it
// verified at every check, cached or not: signature, the key trusted for the endorser (the agent's own
// allowed_signers file when configured, else the key the controller's trust store vouched for), expiry,
// deprecation, and that the entry is for this very image. Only a verified endorser can match
// allow_endorsers; a claimed endorser string can only be denied.

import type { Logger } from 'pino';
import { FileTrust, parseAllowedSigners } from '../../common/allowed-signers.ts';
import { verifyEntry } from '../../common/marketplace-verify.ts';
import type { MarketplaceProof } from '../../protocol/image.ts';
import type { ImageDb } from './image-db.ts';
import { ImagePolicyError } from './errors.ts';

export interface PolicyConfig {
  allowChecksums: string[];
  denyChecksums: string[];
  allowUrlPrefixes: string[];
  denyUrlPrefixes: string[];
  allowEndorsers: string[];
  denyEndorsers: string[];
  allowIds?: string[];
  denyIds?: string[];
  /** Refuse images that come without a signed Marketplace entry. */
  requireSigned?: boolean;
  /** The agent's own allowed_signers text (read at each check), or undefined to use the controller's trust. */
  allowedSigners?: () => string | undefined;
}

export interface PolicySubject {
  sha256: string;
  /** Other digests the image is known by (source sha256 before decompression, sha512, sha1, md5). */
  otherDigests?: (string | null | undefined)[];
  url?: string | null | undefined;
  /** The endorser the image claims (unsigned): can be denied, never allowed. */
  endorser?: string | null | undefined;
  /** The signed Marketplace entry that comes with the image, verified at every check. */
  marketplace?: MarketplaceProof | undefined;
}

export type PolicyStage = 'download' | 'deploy' | 'import';

export interface Actor {
  /** Who asked: a user or service name (the VM's `owner` label, an API caller's X-Stratus-Actor). */
  actor: string;
  vmId?: string;
}

export class ImagePolicy {
  private readonly cfg: PolicyConfig;

  constructor(
    cfg: PolicyConfig,
    private readonly db: ImageDb,
    private readonly log: Logger,
  ) {
    const lower = (l: string[]) => l.map((s) => s.trim().toLowerCase()).filter(Boolean);
    this.cfg = {
      ...cfg,
      allowChecksums: lower(cfg.allowChecksums),
      denyChecksums: lower(cfg.denyChecksums),
      allowEndorsers: lower(cfg.allowEndorsers),
      denyEndorsers: lower(cfg.denyEndorsers),
    };
  }

  /** The decision for an image, with the reason (the rule that matched). */
  decide(s: PolicySubject): { allowed: boolean; reason: string } {
    const c = this.cfg;
    const digests = [s.sha256, ...(s.otherDigests ?? [])].filter((d): d is string => !!d).map((d) => d.toLowerCase());
    const url = s.url ?? undefined;
    let verified: { email: string; id: string } | undefined;
    if (s.marketplace) {
      const m = this.checkEntry(s.marketplace, digests);
      if ('refused' in m) return { allowed: false, reason: m.refused };
      verified = m;
    } else if (c.requireSigned) {
      return { allowed: false, reason: 'no signed Marketplace entry comes with the image (rule: require_signed)' };
    }
    const claimed = s.endorser?.toLowerCase();
    const endorser = verified?.email.toLowerCase();
    if (verified && c.denyIds?.includes(verified.id)) {
      return {
        allowed: false,
        reason: `entry ${verified.id} by ${verified.email}: Marketplace id is on the deny list`,
      };
    }
    if (claimed && !endorser && c.denyEndorsers.includes(claimed)) {
      return { allowed: false, reason: `endorser ${s.endorser} is on the deny list` };
    }
    const deniedDigest = digests.find((d) => c.denyChecksums.includes(d));
    if (deniedDigest) return { allowed: false, reason: `checksum ${deniedDigest} is on the deny list` };
    const deniedPrefix = url && c.denyUrlPrefixes.find((p) => url.startsWith(p));
    if (deniedPrefix) return { allowed: false, reason: `source URL ${url} matches denied prefix ${deniedPrefix}` };
    if (endorser && c.denyEndorsers.includes(endorser)) {
      return { allowed: false, reason: `entry ${verified?.id} by ${verified?.email}: endorser is on the deny list` };
    }
    const anyAllow =
      c.allowChecksums.length + c.allowUrlPrefixes.length + c.allowEndorsers.length + (c.allowIds?.length ?? 0) > 0;
    if (!anyAllow) return { allowed: true, reason: 'no allow list is configured' };
    const d = digests.find((x) => c.allowChecksums.includes(x));
    if (d) return { allowed: true, reason: `checksum ${d} is on the allow list` };
    const p = url && c.allowUrlPrefixes.find((x) => url.startsWith(x));
    if (p) return { allowed: true, reason: `source URL matches allowed prefix ${p}` };
    if (endorser && c.allowEndorsers.includes(endorser)) {
      return { allowed: true, reason: `signed endorser ${verified?.email} is on the allow list` };
    }
    if (verified && c.allowIds?.includes(verified.id)) {
      return { allowed: true, reason: `Marketplace id ${verified.id} is on the allow list` };
    }
    const what = verified ? `entry ${verified.id} by ${verified.email}` : `image ${s.sha256}`;
    return {
      allowed: false,
      reason: `${what} matches no allow list (checksum${url ? ', source URL' : ''}${verified ? ', endorser, Marketplace id' : ''}${claimed && !verified ? '; a claimed endorser without a signed entry never matches' : ''})`,
    };
  }

  /** Verifies a Marketplace entry for this image; the verified endorser and id, or why it is refused. */
  private checkEntry(m: MarketplaceProof, digests: string[]): { email: string; id: string } | { refused: string } {
    let trust: FileTrust;
    try {
      const text = this.cfg.allowedSigners?.();
      trust =
        text === undefined
          ? new FileTrust([{ principals: [m.trust.email], fingerprint: m.trust.fingerprint }])
          : new FileTrust(parseAllowedSigners(text));
    } catch (err) {
      return { refused: `the allowed_signers file cannot be used: ${(err as Error).message}` };
    }
    const v = verifyEntry(m, { trust });
    if (!v.ok) return { refused: v.reason };
    if (!digests.includes(v.entry.checksums.sha256)) {
      return {
        refused: `entry ${v.entry.id} by ${v.entry.endorser.email}: the entry is for sha256 ${v.entry.checksums.sha256}, not this image (rule: image-mismatch)`,
      };
    }
    return { email: v.entry.endorser.email, id: v.entry.id };
  }

  /** Throws ImagePolicyError (after writing an audit record) when the image is refused. */
  enforce(s: PolicySubject, stage: PolicyStage, who: Actor): void {
    const d = this.decide(s);
    if (d.allowed) return;
    const auditId = this.db.audit({
      actor: who.actor,
      vmId: who.vmId ?? null,
      stage,
      sha256: s.sha256,
      url: s.url ?? null,
      endorser: s.endorser ?? null,
      decision: 'deny',
      reason: d.reason,
    });
    this.log.warn(
      { sha256: s.sha256, stage, actor: who.actor, vm: who.vmId, url: s.url, endorser: s.endorser, auditId },
      `image refused by policy: ${d.reason}`,
    );
    throw new ImagePolicyError(s.sha256, stage, d.reason, auditId);
  }
}
