// Short-lived broker accounts for read-only consumers (the dashboard page, scripts), issued through the
// REST API to an authenticated user and never written anywhere: a random name and password that the
// embedded broker accepts until they expire, when the broker also disconnects their sessions.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { BrokerPrincipal } from './broker.ts';

export interface IssuedAccount {
  username: string;
  password: string;
  /** ms since the epoch */
  expiresAt: number;
}

interface Entry {
  hash: Buffer;
  role: 'dashboard';
  expiresAt: number;
  issuedTo: string;
}

export class TemporaryAccounts {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A new read-only account for `issuedTo` (a user name, for the logs), valid for `ttlMs`. */
  issue(issuedTo: string, ttlMs: number): IssuedAccount {
    this.sweep();
    const username = `dash-${randomBytes(6).toString('hex')}`;
    const password = randomBytes(24).toString('base64url');
    const expiresAt = this.now() + ttlMs;
    this.entries.set(username, {
      hash: createHash('sha256').update(password).digest(),
      role: 'dashboard',
      expiresAt,
      issuedTo,
    });
    return { username, password, expiresAt };
  }

  check(username: string, password: string): BrokerPrincipal | undefined {
    const e = this.entries.get(username);
    if (!e || e.expiresAt <= this.now()) return undefined;
    const got = createHash('sha256').update(password).digest();
    return timingSafeEqual(got, e.hash) ? { username, role: e.role } : undefined;
  }

  /** Whether `username` is a temporary account that has expired (its sessions must end). */
  expired(username: string): boolean {
    const e = this.entries.get(username);
    return e !== undefined && e.expiresAt <= this.now();
  }

  /** Forgets expired accounts; returns their names. */
  sweep(): string[] {
    const gone: string[] = [];
    for (const [u, e] of this.entries) {
      if (e.expiresAt <= this.now()) {
        this.entries.delete(u);
        gone.push(u);
      }
    }
    return gone;
  }
}
