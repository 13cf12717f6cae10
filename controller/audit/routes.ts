// GET /v1/audit (admins): the audit log, newest first, filtered by user and time.

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import { ValidationError } from '../../common/errors.ts';
import { route } from '../api/route.ts';
import { AuditEntry, type AuditStore } from './store.ts';

export function auditRoutes(store: AuditStore): Router {
  const r = Router();
  route(
    r,
    {
      method: 'get',
      path: '/audit',
      summary: 'The audit log: mutating API calls, refused calls and host commands, newest first',
      tag: 'audit',
      role: 'admin',
      query: Type.Object(
        {
          user: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Only what this user did' })),
          since: Type.Optional(
            Type.String({
              pattern: '^\\d{4}-\\d{2}-\\d{2}',
              maxLength: 40,
              description: 'Only entries from this time (ISO 8601)',
            }),
          ),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 200 })),
        },
        { additionalProperties: false },
      ),
      response: Type.Object({ items: Type.Array(AuditEntry) }),
    },
    ({ query }) => {
      const since = query.since === undefined ? undefined : Date.parse(query.since);
      if (since !== undefined && Number.isNaN(since)) throw new ValidationError('since must be an ISO 8601 time');
      return { items: store.list({ actor: query.user, since, limit: query.limit ?? 200 }) };
    },
  );
  return r;
}
