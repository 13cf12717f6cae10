// Declarative REST routes: each route names its method, path, role, and the TypeBox schemas of its
// params, query, body and response. The same declaration validates requests (common/validate.ts) and
// generates the OpenAPI 3.1 document, so the docs cannot drift from what the API accepts.

import type { Static, TSchema } from '@sinclair/typebox';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { validate } from '../../common/validate.ts';
import { ForbiddenError, UnauthorizedError } from '../auth/middleware.ts';
import type { Principal } from '../auth/users.ts';

export type Role = 'admin' | 'user' | 'public';

export interface RouteSpec<P extends TSchema, Q extends TSchema, B extends TSchema> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express path, e.g. /vms/:id */
  path: string;
  summary: string;
  tag: string;
  role: Role;
  params?: P;
  query?: Q;
  body?: B;
  /** Schema of a 2xx JSON response, for the docs. */
  response?: TSchema;
  status?: number;
  /** The body is raw bytes (uploads), not JSON. */
  rawBody?: boolean;
  /** Largest JSON body accepted, in bytes (413 beyond); DEFAULT_BODY_LIMIT when absent. */
  bodyLimit?: number;
}

/** JSON bodies larger than this get 413 unless a route says otherwise. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;

const parsers = new Map<number, RequestHandler>();
/** express.json with the route's limit (one parser per distinct limit). */
function jsonParser(limit: number): RequestHandler {
  let p = parsers.get(limit);
  if (!p) {
    p = express.json({ limit, strict: true });
    parsers.set(limit, p);
  }
  return p;
}

export interface RouteContext<P extends TSchema, Q extends TSchema, B extends TSchema> {
  params: Static<P>;
  query: Static<Q>;
  body: Static<B>;
  principal: Principal;
  req: Request;
  res: Response;
}

export const registry: RouteSpec<TSchema, TSchema, TSchema>[] = [];

/** Numbers and booleans in query strings arrive as text: convert where the schema says so. */
function coerceQuery(schema: TSchema | undefined, q: Record<string, unknown>): Record<string, unknown> {
  const props = (schema?.['properties'] ?? {}) as Record<string, TSchema>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(q)) {
    const t = props[k]?.['type'];
    if ((t === 'integer' || t === 'number') && typeof v === 'string' && v !== '') out[k] = Number(v);
    else if (t === 'boolean' && (v === 'true' || v === 'false')) out[k] = v === 'true';
    else out[k] = v;
  }
  return out;
}

export function route<P extends TSchema, Q extends TSchema, B extends TSchema>(
  router: Router,
  spec: RouteSpec<P, Q, B>,
  handler: (ctx: RouteContext<P, Q, B>) => Promise<unknown> | unknown,
): void {
  registry.push(spec as unknown as RouteSpec<TSchema, TSchema, TSchema>);
  // who may call it first (an anonymous caller gets 401, whatever its body), then the JSON body with the
  // route's own size limit (raw uploads stream instead), then validation and the handler
  const authorize: RequestHandler = (_req, res, next) => {
    const principal = res.locals['principal'] as Principal | undefined;
    if (spec.role === 'public') return next();
    if (!principal)
      return next(new UnauthorizedError('this request needs a bearer token (Authorization: Bearer <token>)'));
    if (spec.role === 'admin' && principal.role !== 'admin')
      return next(new ForbiddenError('this request needs the admin role'));
    next();
  };
  const parse: RequestHandler =
    spec.body && !spec.rawBody ? jsonParser(spec.bodyLimit ?? DEFAULT_BODY_LIMIT) : (_q, _s, n) => n();
  router[spec.method](spec.path, authorize, parse, async (req: Request, res: Response, next: NextFunction) => {
    try {
      const principal = res.locals['principal'] as Principal | undefined;
      const params = spec.params ? validate(spec.params, req.params, 'path') : {};
      const query = spec.query
        ? validate(spec.query, coerceQuery(spec.query, req.query as Record<string, unknown>), 'query')
        : {};
      const body = spec.body ? validate(spec.body, req.body ?? {}, 'request body') : undefined;
      const out = await handler({ params, query, body, principal, req, res } as RouteContext<P, Q, B>);
      if (res.headersSent) return;
      if (out === undefined) res.status(spec.status ?? 204).end();
      else res.status(spec.status ?? 200).json(out);
    } catch (err) {
      next(err);
    }
  });
}
