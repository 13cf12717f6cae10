// What feeds the audit log: an express middleware that records every mutating API call and every
// refused one (401, 403, 429) when its response is finished, and a CommandDispatcher wrapper that
// records every command sent to a host with its outcome. The API call's identity travels to the commands
// it causes through AsyncLocalStorage, so a deploy is recorded under the user who created the VM;
// commands the controller sends on its own (recovery, reconciliation) are recorded as `controller`.

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { asStratusError } from '../../common/errors.ts';
import { redactSecrets } from '../../common/redact.ts';
import type { Principal } from '../auth/users.ts';
import type { AgentCommand, CommandArgs, CommandResult } from '../../protocol/mqtt/index.ts';
import type { CommandDispatcher, DispatchOptions } from '../mqtt/command-dispatcher.ts';
import type { AuditStore } from './store.ts';

interface CallContext {
  res: Response;
  requestId: string;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const REFUSED = new Set([401, 403, 429]);
const MAX_KEYS = 24;
const MAX_STRING = 128;

/** A summary of a request body or command arguments: identifying fields only, never whole texts or secrets. */
export function summarize(v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v === undefined ? {} : { value: describe(v) };
  const out: Record<string, unknown> = {};
  const entries = Object.entries(redactSecrets(v as Record<string, unknown>));
  for (const [k, x] of entries.slice(0, MAX_KEYS)) out[k] = describe(x);
  if (entries.length > MAX_KEYS) out['…'] = `${entries.length - MAX_KEYS} more fields`;
  return out;
}

function describe(x: unknown): unknown {
  if (typeof x === 'string') return x.length <= MAX_STRING ? x : `<${x.length} characters>`;
  if (typeof x === 'number' || typeof x === 'boolean' || x === null) return x;
  if (Array.isArray(x))
    return x.every((e) => typeof e === 'string' && e.length <= 64) && x.length <= 16 ? x : `<${x.length} items>`;
  if (typeof x === 'object')
    return `{${Object.keys(x as object)
      .slice(0, 8)
      .join(', ')}}`;
  return typeof x;
}

export class AuditRecorder {
  private readonly als = new AsyncLocalStorage<CallContext>();

  constructor(
    private readonly store: AuditStore,
    private readonly log: Logger,
  ) {}

  private actorOf(res: Response | undefined): { actor: string; actorId?: string } {
    const p = res?.locals['principal'] as Principal | undefined;
    if (p) return { actor: p.name, actorId: p.id };
    return { actor: res ? 'anonymous' : 'controller' };
  }

  private safeRecord(r: Parameters<AuditStore['record']>[0]): void {
    try {
      this.store.record(r);
    } catch (err) {
      // the audit log must never break the call it records; a failure to record is logged loudly
      this.log.error({ err: (err as Error).message, action: r.action }, 'cannot write the audit log');
    }
  }

  /** Express middleware for /v1, before authentication (so that refused calls are recorded too). */
  middleware(): RequestHandler {
    return (req: Request, res: Response, next) => {
      const requestId = String(req.headers['x-request-id'] ?? '').slice(0, 64) || randomUUID();
      const base = req.baseUrl; // express resets it once the router is done
      const path = req.path;
      res.on('finish', () => {
        if (!MUTATING.has(req.method) && !REFUSED.has(res.statusCode)) return;
        const route = (req.route as { path?: string } | undefined)?.path;
        const problem = res.locals['problemCode'] as string | undefined;
        this.safeRecord({
          ...this.actorOf(res),
          source: req.socket.remoteAddress,
          kind: 'api',
          action: `${req.method} ${base}${route ?? path}`,
          target: `${base}${path}`,
          summary: {
            ...summarize(req.query),
            ...(req.body && typeof req.body === 'object' ? summarize(req.body) : {}),
          },
          status: res.statusCode,
          outcome: res.statusCode < 400 ? 'ok' : 'error',
          code: problem,
          requestId,
        });
      });
      this.als.run({ res, requestId }, next);
    };
  }

  /** The dispatcher, with every command recorded (who caused it, which host, the outcome). */
  dispatcher(inner: CommandDispatcher): CommandDispatcher {
    const recorder = this;
    return {
      async dispatch<K extends AgentCommand>(
        host: string,
        command: K,
        args: CommandArgs<K>,
        opts?: DispatchOptions,
      ): Promise<CommandResult<K>> {
        const ctx = recorder.als.getStore();
        const key = opts?.key ?? opts?.idempotencyKey;
        const base = {
          ...recorder.actorOf(ctx?.res),
          kind: 'command' as const,
          action: command,
          target: host,
          summary: { ...summarize(args), ...(key ? { key } : {}) },
          requestId: ctx?.requestId,
        };
        try {
          const out = await inner.dispatch(host, command, args, opts);
          recorder.safeRecord({ ...base, outcome: 'ok' });
          return out;
        } catch (err) {
          recorder.safeRecord({ ...base, outcome: 'error', code: asStratusError(err).code });
          throw err;
        }
      },
      hostReturned: (host: string) => inner.hostReturned?.(host),
    };
  }
}
