// Bearer-token authentication and role checks for the REST API. Unknown or missing tokens get 401;
// a user calling an admin route gets 403.

import type { RequestHandler } from 'express';
import { StratusError } from '../../common/errors.ts';
import type { UserStore } from './users.ts';

export class UnauthorizedError extends StratusError {
  constructor(message: string) {
    super('STRATUS_ERR_UNAUTHORIZED', message, { status: 401 });
  }
}

export class ForbiddenError extends StratusError {
  constructor(message: string) {
    super('STRATUS_ERR_FORBIDDEN', message, { status: 403 });
  }
}

export function authenticate(users: UserStore): RequestHandler {
  return (req, res, next) => {
    const h = req.headers.authorization;
    if (!h) return next();
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    const p = m ? users.authenticate(m[1]!) : undefined;
    if (!p) return next(new UnauthorizedError('invalid bearer token'));
    res.locals['principal'] = p;
    next();
  };
}
