// Users and their bearer tokens as a controller feature: the user store, the authentication middleware
// the daemon puts in front of /v1 (behind a limit on failed authentications per source address), and
// the first admin (from [api] admin_token, or generated once into
// <state_dir>/admin.token, 0600).

import { join } from 'node:path';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Db } from '../../common/sqlite.ts';
import { writeSecretFile } from '../../drivers/host-fs.ts';
import type { ControllerConfig } from '../config.ts';
import type { ControllerFeature } from '../feature.ts';
import { AuthFailureLimiter } from './failure-limit.ts';
import { authenticate } from './middleware.ts';
import { UserStore } from './users.ts';

export class AuthFeature implements ControllerFeature {
  readonly name = 'auth';
  readonly users: UserStore;
  /** Refuses sources with too many failed authentications (429), then attaches the caller
   * (res.locals.principal) from its bearer token; routes check roles. */
  readonly middleware: readonly RequestHandler[];

  constructor(
    private readonly config: ControllerConfig,
    db: Db,
    private readonly log: Logger,
  ) {
    this.users = new UserStore(db);
    const limiter = new AuthFailureLimiter({
      max: config.api.auth_failures_max,
      windowS: config.api.auth_failures_window_s,
    });
    this.middleware = [limiter.middleware(), authenticate(this.users)];
    this.bootstrapAdmin();
  }

  /** The first admin: from [api] admin_token, or generated once into <state_dir>/admin.token (0600). */
  private bootstrapAdmin(): void {
    if (this.users.hasAdmin()) return;
    const given = this.config.api.admin_token;
    const { token } = this.users.create(
      'admin',
      'admin',
      { vms: 10_000, vcpus: 1_000_000, memoryMiB: 1 << 30 },
      given || undefined,
    );
    if (!given) {
      const path = join(this.config.controller.state_dir, 'admin.token');
      writeSecretFile(path, token);
      this.log.info({ path }, 'admin token written');
    }
  }
}
