// A limit on failed authentications per source address, against guessing tokens: once an address has
// failed `max` times within `windowS` seconds, every request from it that carries credentials (a bearer
// token or a capability URL's token) gets 429 with Retry-After until the oldest failure leaves the
// window. Requests without credentials (health checks, the OpenAPI document) are not affected. The
// address is the TCP peer's: forwarded-for headers are not trusted. Memory is bounded.

import type { Request, RequestHandler } from 'express';
import { TooManyRequestsError } from '../../common/errors.ts';

const MAX_ADDRESSES = 100_000;

export class AuthFailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly o: { max: number; windowS: number; now?: () => number }) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private recent(addr: string): number[] {
    const list = this.failures.get(addr);
    if (!list) return [];
    const from = this.now() - this.o.windowS * 1000;
    while (list.length > 0 && list[0]! <= from) list.shift();
    if (list.length === 0) this.failures.delete(addr);
    return list;
  }

  /** Seconds until `addr` may try again, or 0 when it may now. */
  retryAfterS(addr: string): number {
    if (this.o.max === 0) return 0;
    const list = this.recent(addr);
    if (list.length < this.o.max) return 0;
    return Math.max(1, Math.ceil((list[list.length - this.o.max]! + this.o.windowS * 1000 - this.now()) / 1000));
  }

  fail(addr: string): void {
    if (this.o.max === 0) return;
    let list = this.failures.get(addr);
    if (!list) {
      if (this.failures.size >= MAX_ADDRESSES) {
        const oldest = this.failures.keys().next().value;
        if (oldest !== undefined) this.failures.delete(oldest);
      }
      list = [];
      this.failures.set(addr, list);
    }
    list.push(this.now());
    if (list.length > this.o.max) list.splice(0, list.length - this.o.max);
  }

  /**
   * Express middleware, before authentication: refuses blocked addresses, and counts a request as a
   * failed authentication when it ends in 401 or a route marked it (`res.locals.authFailed`, capability
   * URLs with a wrong or expired token).
   */
  middleware(): RequestHandler {
    return (req, res, next) => {
      if (!carriesCredentials(req)) return next();
      const addr = req.socket.remoteAddress ?? 'unknown';
      const wait = this.retryAfterS(addr);
      if (wait > 0) {
        return next(
          new TooManyRequestsError(`too many failed authentications from ${addr}; retry in ${wait} s`, wait, {
            address: addr,
          }),
        );
      }
      res.on('finish', () => {
        if (res.statusCode === 401 || res.locals['authFailed'] === true) this.fail(addr);
      });
      next();
    };
  }
}

function carriesCredentials(req: Request): boolean {
  return req.headers.authorization !== undefined || (typeof req.query === 'object' && 'token' in req.query);
}
