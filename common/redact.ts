// Keeps secrets out of what leaves a component as a reply, an event, an audit entry or a log line:
// capability URLs lose their query string (token, expiry, host binding), and values under keys that name
// a secret (token, password, secret, ...) are replaced. Structure and everything else are kept, so a
// reply still says which image or ISO was used.

const SECRET_KEY = /^(token|password|passwd|secret|chap|authorization|admin_token|join_token|uploadUrl)$/i;
const URL_WITH_QUERY = /\b(https?:\/\/[^\s?#"']+)\?[^\s#"']*/g;

/** A string with the query strings of its URLs removed (capability tokens travel there). */
export function redactUrls(s: string): string {
  return s.replace(URL_WITH_QUERY, '$1?<redacted>');
}

/** A deep copy of `v` with secrets removed (see the module comment). */
export function redactSecrets<T>(v: T, depth = 0): T {
  if (depth > 32) return '<too deep>' as T;
  if (typeof v === 'string') return redactUrls(v) as T;
  if (Array.isArray(v)) return v.map((x) => redactSecrets(x, depth + 1)) as T;
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      out[k] = SECRET_KEY.test(k) && x !== null && x !== undefined ? '<redacted>' : redactSecrets(x, depth + 1);
    }
    return out as T;
  }
  return v;
}
