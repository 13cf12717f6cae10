// Constant-time comparison of secrets (tokens, passwords, MACs): the time taken does not depend on
// where the first differing byte is, nor on the length of the secret (both sides are hashed to the same
// length first), so a caller cannot guess a secret byte by byte from response times.

import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (v: string | Buffer) => createHash('sha256').update(v).digest();

/** Whether two secrets are equal, in time independent of their content. */
export function secretEquals(a: string | Buffer, b: string | Buffer): boolean {
  return timingSafeEqual(digest(a), digest(b));
}
