// Trusted endorser keys from files: OpenSSH's allowed_signers format (`ssh-keygen -Y verify -f`):
//   principals [options] keytype base64 [comment]
// with comma-separated principals (e-mail addresses; `*` and `?` wildcards as in OpenSSH) and the
// options `namespaces="..."` (must then list stratus-image) and `valid-after`/`valid-before`
// (YYYYMMDD[HHMM[SS]], UTC). `cert-authority` lines are refused (certificates are not supported).
// A plain .pub file trusts its key for any endorser e-mail. Revoked keys come from files of public keys.

import { ValidationError } from './errors.ts';
import type { TrustAnswer, TrustLookup } from './marketplace-verify.ts';
import { MARKETPLACE_NAMESPACE } from '../protocol/marketplace.ts';
import { signingKeyFromLine } from './sshsig.ts';

export interface TrustedKeyLine {
  principals: string[];
  fingerprint: string;
  namespaces?: string[];
  validAfter?: number;
  validBefore?: number;
}

const KEY_TYPES = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-\S+|sk-\S+)$/;

function sshTime(s: string, line: number): number {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?Z?$/.exec(s);
  if (!m) throw new ValidationError(`allowed signers line ${line}: bad time ${s} (YYYYMMDD[HHMM[SS]])`);
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0));
}

/** Splits a line into fields, keeping quoted option values together. */
function fields(line: string): string[] {
  return line.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
}

export function parseAllowedSigners(text: string): TrustedKeyLine[] {
  const out: TrustedKeyLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const f = fields(line);
    const principals = f.shift()!.split(',');
    const entry: TrustedKeyLine = { principals, fingerprint: '' };
    if (f[0] && !KEY_TYPES.test(f[0])) {
      for (const opt of f.shift()!.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)) {
        const [k, v = ''] = opt.split(/=(.*)/s) as [string, string?];
        const val = v.replace(/^"|"$/g, '');
        if (k === 'namespaces') entry.namespaces = val.split(',');
        else if (k === 'valid-after') entry.validAfter = sshTime(val, i + 1);
        else if (k === 'valid-before') entry.validBefore = sshTime(val, i + 1);
        else throw new ValidationError(`allowed signers line ${i + 1}: option ${k} is not supported`);
      }
    }
    let key: ReturnType<typeof signingKeyFromLine>;
    try {
      key = signingKeyFromLine(f.join(' '));
    } catch (err) {
      throw new ValidationError(`allowed signers line ${i + 1}: ${(err as Error).message}`);
    }
    entry.fingerprint = key.fingerprint;
    out.push(entry);
  });
  return out;
}

function glob(pattern: string, s: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return re.test(s);
}

/** A trust lookup over allowed_signers lines and .pub keys, with a set of revoked fingerprints. */
export class FileTrust implements TrustLookup {
  constructor(
    private readonly lines: TrustedKeyLine[],
    private readonly revoked: Set<string> = new Set(),
    private readonly now: () => number = Date.now,
  ) {}

  check(fingerprint: string, email: string): TrustAnswer {
    if (this.revoked.has(fingerprint)) return { trusted: false, rule: 'revoked', why: `key ${fingerprint} is revoked` };
    const mine = this.lines.filter((l) => l.fingerprint === fingerprint);
    if (mine.length === 0) {
      return { trusted: false, rule: 'unknown-endorser', why: `key ${fingerprint} is not a trusted endorser key` };
    }
    const t = this.now();
    const fits = mine.find(
      (l) =>
        l.principals.some((p) => glob(p, email)) &&
        (!l.namespaces || l.namespaces.some((n) => glob(n, MARKETPLACE_NAMESPACE))) &&
        (l.validAfter === undefined || t >= l.validAfter) &&
        (l.validBefore === undefined || t < l.validBefore),
    );
    if (!fits) {
      return {
        trusted: false,
        rule: 'unknown-endorser',
        why: `key ${fingerprint} is not trusted for ${email} (principals, namespaces or validity)`,
      };
    }
    return { trusted: true };
  }
}
