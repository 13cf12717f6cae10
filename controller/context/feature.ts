// Contextualization CD-ROMs as a controller feature: the context service (ISOs built from IPAM leases,
// per-VM download tokens stored hashed), the deploy hook that gives every VM its ISO, and the
// /v1/context routes (build on request; the token-authenticated download agents use).

import { sweepIsoLeftovers } from '../../drivers/iso.ts';
import { SpawnServer } from '../../drivers/spawn-server.ts';
import { listenerTls, urlOf } from '../tls/site-tls.ts';
import { join } from 'node:path';
import type { Router } from 'express';
import type { Logger } from 'pino';
import type { Db } from '../../common/sqlite.ts';
import type { ControllerConfig } from '../config.ts';
import type { ControllerFeature } from '../feature.ts';
import type { IpamService } from '../network/ipam.ts';
import type { DeployHook } from '../vms/deploy-hook.ts';
import type { VmRecord } from '../vms/store.ts';
import { ContextDeployHook } from './deploy-hook.ts';
import { contextRoutes } from './routes.ts';
import { ContextService } from './service.ts';
import type { VmContextRequest } from './vm-context.ts';

export interface ContextFeatureDeps {
  config: ControllerConfig;
  db: Db;
  log: Logger;
  ipam: IpamService;
  /** Address the API listens on, known after listen (for the default public URL). */
  apiAddress: () => string;
  /** What a VM's creation asked of its context (keys, user data, method; the keys feature). */
  contextFor?: (vm: VmRecord) => VmContextRequest | undefined;
}

export class ContextFeature implements ControllerFeature {
  readonly name = 'context';
  readonly service: ContextService;
  readonly routes: readonly Router[];
  readonly deployHooks: readonly DeployHook[];
  /** genisoimage/xorriso run from a small helper process: forking the controller itself blocks its loop. */
  private readonly spawner = new SpawnServer();
  private readonly dir: string;
  private readonly log: Logger;

  constructor(d: ContextFeatureDeps) {
    const c = d.config.network;
    this.dir = c.context_dir || join(d.config.controller.state_dir, 'context');
    this.log = d.log.child({ part: 'context' });
    this.service = new ContextService({
      runner: this.spawner,
      db: d.db,
      log: this.log,
      dir: this.dir,
      ipam: d.ipam,
      ttlS: d.config.api.capability_ttl_s,
    });
    this.routes = [contextRoutes(this.service)];
    this.deployHooks = [
      new ContextDeployHook({
        context: this.service,
        publicUrl: () =>
          d.config.api.public_url ||
          urlOf(listenerTls(d.config.tls.mode, d.config.api.listen) ? 'https' : 'http', d.apiAddress()),
        flavour: c.context_flavour,
        addressing: c.context_addressing,
        ...(d.contextFor ? { contextFor: d.contextFor } : {}),
      }),
    ];
  }

  /** Removes what ISO builds killed midway left; before the API takes requests (nothing builds yet). */
  async recover(): Promise<void> {
    const n = await sweepIsoLeftovers(this.dir);
    if (n > 0) this.log.info({ removed: n, dir: this.dir }, 'leftovers of interrupted context ISO builds removed');
  }

  stop(): void {
    this.spawner.close();
  }
}
