// The site Marketplace: publish (the signature checked against the site trust store), listing and
// search with each entry's status re-judged against the trust store of now, intake of replicated
// entries, the choice of the entry that vouches for an image at launch, and entries the site signs
// itself with its own key (saved images).

import type { Logger } from 'pino';
import { StratusError } from '../../common/errors.ts';
import { buildEntry, type EntryChoices, signEntry } from '../../common/marketplace-sign.ts';
import { entryStatus, type FileDigests, type Verdict, verifyEntry } from '../../common/marketplace-verify.ts';
import type { SshPrivateKey } from '../../common/openssh-private-key.ts';
import { problems } from '../../common/validate.ts';
import { type MarketplaceEntry, SignedEntry } from '../../protocol/marketplace.ts';
import type { EntryStore, StoredEntry } from './entry-store.ts';
import type { TrustStore } from './trust-store.ts';

/** An image refused by the Marketplace checks: names the entry, the endorser and the rule. */
export class ImageRefusedError extends StratusError {
  constructor(reason: string, details: { rule: string; entry?: string | undefined; endorser?: string | undefined }) {
    super('STRATUS_ERR_IMAGE_REFUSED', reason, { status: 422, details });
  }
}

export interface ListQuery {
  status?: 'valid' | 'expired' | 'deprecated' | 'all' | undefined;
  os?: string | undefined;
  arch?: string | undefined;
  endorser?: string | undefined;
  tag?: string | undefined;
  q?: string | undefined;
}

export interface MarketItem {
  id: string;
  status: 'valid' | 'expired' | 'deprecated';
  /** Why the site refuses the entry now (revoked or unknown key), when it does. */
  refused?: string;
  entry: MarketplaceEntry;
  signature: string;
  origin: string;
  receivedAt: number;
}

export interface IngestResult {
  added: number;
  updated: number;
  unchanged: number;
  refused: { entry?: string | undefined; endorser?: string | undefined; rule: string; reason: string }[];
}

export class MarketplaceService {
  constructor(
    private readonly d: {
      entries: EntryStore;
      trust: TrustStore;
      log: Logger;
      siteKey: () => SshPrivateKey;
      siteEndorser: string;
    },
  ) {}

  private check(s: { entry: unknown; signature: string }, o: { allowExpired: boolean }): Verdict {
    return verifyEntry(s, { trust: this.d.trust, allowDeprecated: true, allowExpired: o.allowExpired });
  }

  /** Publishes a signed entry; refused (422, with the rule) unless it verifies and is not expired. */
  publish(s: { entry: unknown; signature: string }, by: string): MarketItem {
    const v = this.check(s, { allowExpired: false });
    if (!v.ok) {
      this.d.log.warn({ entry: v.entryId, endorser: v.endorser, rule: v.rule, by }, `publish refused: ${v.reason}`);
      throw new ImageRefusedError(v.reason, { rule: v.rule, entry: v.entryId, endorser: v.endorser });
    }
    const r = this.d.entries.put(v.entry, s.signature, 'local');
    this.d.log.info(
      { entry: v.entry.id, endorser: v.entry.endorser.email, by, result: r },
      'marketplace entry published',
    );
    return this.item(this.d.entries.byId(v.entry.id).find((e) => e.entry.endorser.email === v.entry.endorser.email)!);
  }

  /** Entries pulled from another site: each verified here; tampered or untrusted ones are refused and logged. */
  ingest(items: unknown[], origin: string): IngestResult {
    const out: IngestResult = { added: 0, updated: 0, unchanged: 0, refused: [] };
    for (const raw of items) {
      const shape = problems(SignedEntry, raw);
      const s = raw as { entry?: unknown; signature?: unknown };
      const v: Verdict =
        typeof s?.signature === 'string'
          ? this.check({ entry: s.entry, signature: s.signature }, { allowExpired: true })
          : {
              ok: false,
              rule: 'schema',
              reason: `not a signed entry (${shape[0]?.path ?? '/'} ${shape[0]?.message ?? ''})`,
            };
      if (!v.ok) {
        out.refused.push({ entry: v.entryId, endorser: v.endorser, rule: v.rule, reason: v.reason });
        this.d.log.warn(
          { mirror: origin, entry: v.entryId, endorser: v.endorser, rule: v.rule },
          `replicated entry refused: ${v.reason}`,
        );
        continue;
      }
      out[this.d.entries.put(v.entry, s.signature as string, origin)]++;
    }
    return out;
  }

  private item(e: StoredEntry): MarketItem {
    const v = this.check(e, { allowExpired: true });
    return {
      id: e.entry.id,
      status: entryStatus(e.entry),
      ...(v.ok ? {} : { refused: v.reason }),
      entry: e.entry,
      signature: e.signature,
      origin: e.origin,
      receivedAt: e.receivedAt,
    };
  }

  list(q: ListQuery = {}): MarketItem[] {
    const status = q.status ?? 'valid';
    const words = (q.q ?? '').toLowerCase().split(/\s+/).filter(Boolean);
    return this.d.entries
      .all()
      .map((e) => this.item(e))
      .filter((i) => {
        const e = i.entry;
        if (status !== 'all' && i.status !== status) return false;
        if (q.os && e.os?.toLowerCase() !== q.os.toLowerCase()) return false;
        if (q.arch && e.osArch !== q.arch) return false;
        if (q.endorser && e.endorser.email.toLowerCase() !== q.endorser.toLowerCase()) return false;
        if (q.tag && !(e.tags ?? []).includes(q.tag)) return false;
        const text = `${e.title ?? ''} ${e.description ?? ''} ${e.os ?? ''} ${e.osVersion ?? ''}`.toLowerCase();
        return words.every((w) => text.includes(w));
      });
  }

  /** Every version held for a Marketplace id (one per endorser), newest first. */
  show(id: string): MarketItem[] {
    return this.d.entries.byId(id).map((e) => this.item(e));
  }

  /** Every entry as stored, for other sites to replicate. */
  feed(): { entry: MarketplaceEntry; signature: string }[] {
    return this.d.entries.all().map((e) => ({ entry: e.entry, signature: e.signature }));
  }

  /**
   * The entry that vouches for a launch of this Marketplace id now: verified against the trust store,
   * not expired, not deprecated. Throws ImageRefusedError naming the entry, endorser and rule.
   */
  forLaunch(id: string): { entry: MarketplaceEntry; signature: string } {
    const held = this.d.entries.byId(id);
    if (held.length === 0) {
      throw new ImageRefusedError(`no Marketplace entry ${id} on this site (rule: unknown-entry)`, {
        rule: 'unknown-entry',
        entry: id,
      });
    }
    let first: Verdict | undefined;
    for (const e of held) {
      const v = verifyEntry(e, { trust: this.d.trust });
      if (v.ok) return { entry: e.entry, signature: e.signature };
      first ??= v;
    }
    const v = first as Extract<Verdict, { ok: false }>;
    throw new ImageRefusedError(v.reason, { rule: v.rule, entry: v.entryId, endorser: v.endorser });
  }

  /** An entry for an image this site made (save-as), signed with the site key, and published here. */
  signSiteEntry(digests: FileDigests, choices: Omit<EntryChoices, 'email'>): MarketItem {
    const key = this.d.siteKey();
    const entry = buildEntry(digests, key.publicBlob, { ...choices, email: this.d.siteEndorser });
    return this.publish({ entry, signature: signEntry(entry, key) }, 'site');
  }
}
