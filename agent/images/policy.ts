// The image policy, as StratusLab added after its 2011 incident: allow and deny lists by checksum, by
// source URL prefix and by endorser. Deny lists always win; when any allow list is set, an image must
// match at least one allow entry. Checked before any download and again before any deploy; each
// refusal is an audit record (who, which image, which checksum, when, why) and a clear error.

import type { Logger } from 'pino';
import type { ImageDb } from './image-db.ts';
import { ImagePolicyError } from './errors.ts';

export interface PolicyConfig {
  allowChecksums: string[];
  denyChecksums: string[];
  allowUrlPrefixes: string[];
  denyUrlPrefixes: string[];
  allowEndorsers: string[];
  denyEndorsers: string[];
}

export interface PolicySubject {
  sha256: string;
  /** Other digests the image is known by (source sha256 before decompression, sha512, sha1, md5). */
  otherDigests?: (string | null | undefined)[];
  url?: string | null | undefined;
  endorser?: string | null | undefined;
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
    const endorser = s.endorser?.toLowerCase();
    const url = s.url ?? undefined;
    const deniedDigest = digests.find((d) => c.denyChecksums.includes(d));
    if (deniedDigest) return { allowed: false, reason: `checksum ${deniedDigest} is on the deny list` };
    const deniedPrefix = url && c.denyUrlPrefixes.find((p) => url.startsWith(p));
    if (deniedPrefix) return { allowed: false, reason: `source URL ${url} matches denied prefix ${deniedPrefix}` };
    if (endorser && c.denyEndorsers.includes(endorser)) {
      return { allowed: false, reason: `endorser ${s.endorser} is on the deny list` };
    }
    const anyAllow = c.allowChecksums.length + c.allowUrlPrefixes.length + c.allowEndorsers.length > 0;
    if (!anyAllow) return { allowed: true, reason: 'no allow list is configured' };
    const d = digests.find((x) => c.allowChecksums.includes(x));
    if (d) return { allowed: true, reason: `checksum ${d} is on the allow list` };
    const p = url && c.allowUrlPrefixes.find((x) => url.startsWith(x));
    if (p) return { allowed: true, reason: `source URL matches allowed prefix ${p}` };
    if (endorser && c.allowEndorsers.includes(endorser)) {
      return { allowed: true, reason: `endorser ${s.endorser} is on the allow list` };
    }
    return {
      allowed: false,
      reason: `matches no allow list (checksum${url ? ', source URL' : ''}${s.endorser ? ', endorser' : ''})`,
    };
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
