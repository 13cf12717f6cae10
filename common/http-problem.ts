// Express error handling shared by the agent and controller APIs: every error becomes an
// application/problem+json document (RFC 9457) with a readable title, the stable code and details.

import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { asStratusError, NotReadyError, StratusError, ValidationError } from './errors.ts';

function fromExpress(err: unknown): StratusError | undefined {
  const e = err as { type?: string; status?: number; message?: string };
  if (e?.type === 'entity.parse.failed') return new ValidationError(`request body is not valid JSON: ${e.message}`);
  if (e?.type === 'entity.too.large') {
    const limit = (err as { limit?: number }).limit;
    return new StratusError(
      'STRATUS_ERR_TOO_LARGE',
      limit ? `request body is too large (this request accepts at most ${limit} bytes)` : 'request body is too large',
      { status: 413, ...(limit ? { details: { limitBytes: limit } } : {}) },
    );
  }
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
    return new ValidationError(`unsupported request encoding: ${e.message}`);
  }
  return undefined;
}

export function problemHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const e = fromExpress(err) ?? asStratusError(err);
    if (e.status >= 500 && !(e instanceof NotReadyError)) log.error({ err, path: req.path, code: e.code }, e.message);
    else log.info({ path: req.path, code: e.code, status: e.status }, e.message);
    res.locals['problemCode'] = e.code; // for the audit log
    const retryAfter = (e as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (typeof retryAfter === 'number') res.setHeader('Retry-After', String(Math.max(1, Math.ceil(retryAfter))));
    res
      .status(e.status)
      .type('application/problem+json')
      .send({
        type: `urn:stratus:error:${e.code}`,
        title: e.message,
        status: e.status,
        code: e.code,
        ...(Object.keys(e.details).length > 0 ? { details: e.details } : {}),
        instance: req.originalUrl,
      });
  };
}

export const notFoundRoute: RequestHandler = (req, _res, next) => {
  next(new StratusError('STRATUS_ERR_NO_ROUTE', `no route for ${req.method} ${req.path}`, { status: 404 }));
};
