// The audit log as a controller feature: the store (table audit_log), the middleware the daemon puts in
// front of /v1 (before authentication, so that refused calls are recorded too), the dispatcher wrapper
// every feature sends host commands through, GET /v1/audit, and the daily pruning of old entries.

import type { RequestHandler, Router } from 'express';
import type { Logger } from 'pino';
import type { Db } from '../../common/sqlite.ts';
import type { ControllerConfig } from '../config.ts';
import type { ControllerFeature } from '../feature.ts';
import type { CommandDispatcher } from '../mqtt/command-dispatcher.ts';
import { AuditRecorder } from './recorder.ts';
import { auditRoutes } from './routes.ts';
import { AuditStore } from './store.ts';

const DAY_MS = 86_400_000;

export class AuditFeature implements ControllerFeature {
  readonly name = 'audit';
  readonly store: AuditStore;
  readonly routes: readonly Router[];
  /** Records every mutating or refused call under /v1 when its response is finished. */
  readonly middleware: RequestHandler;
  private readonly recorder: AuditRecorder;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: ControllerConfig,
    db: Db,
    private readonly log: Logger,
  ) {
    this.store = new AuditStore(db);
    this.recorder = new AuditRecorder(this.store, log.child({ part: 'audit' }));
    this.middleware = this.recorder.middleware();
    this.routes = [auditRoutes(this.store)];
  }

  /** `inner` with every command recorded: features send host commands through this one. */
  dispatcher(inner: CommandDispatcher): CommandDispatcher {
    return this.recorder.dispatcher(inner);
  }

  start(): void {
    const keepDays = this.config.audit.keep_days;
    if (keepDays === 0) return;
    const prune = () => {
      const n = this.store.prune(keepDays * DAY_MS);
      if (n > 0) this.log.info({ removed: n, keepDays }, 'old audit entries removed');
    };
    prune();
    this.timer = setInterval(prune, DAY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
