// Replies, events and states leave the agent without secrets: capability-URL tokens (query parameters
// such as token=, sig=) are replaced by "redacted" and fields named like secrets (password, secret,
// token) are dropped. Everything published on the broker may be read by the controller's subscribers,
// logged, or kept in the controller database, so no message carries a credential (docs/security.md).

const SECRET_KEYS = /^(password|passwd|secret|token|chap_?secret|private_?key)$/i;
const SECRET_PARAMS = /([?&](?:token|sig|signature|key|secret|password)=)[^&#\s]*/gi;

/** The string with the values of secret-looking URL query parameters replaced. */
export function redactUrl(s: string): string {
  return s.includes('=') ? s.replace(SECRET_PARAMS, '$1redacted') : s;
}

/** A deep copy of `value` without secrets (see the header); non-plain objects are copied as JSON would. */
export function redactSecrets<T>(value: T, depth = 0): T {
  if (depth > 32) return value;
  if (typeof value === 'string') return redactUrl(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1)) as T;
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (SECRET_KEYS.test(k) && (typeof v === 'string' || v === null)) continue;
      out[k] = redactSecrets(v, depth + 1);
    }
    return out as T;
  }
  return value;
}
