// Networks and contextualization as one controller feature: IPAM, the DHCP supervisor (when this node
// serves DHCP), context ISOs, and their REST routes mounted on the daemon's /v1 (after authentication).
// The daemon creates it after the cloud routes, starts it, and stops it before closing the database.

import { join } from 'node:path';
import type { Express } from 'express';
import type { Logger } from 'pino';
import type { Db } from '../../common/sqlite.ts';
import type { ControllerConfig } from '../config.ts';
import { contextRoutes } from '../context/routes.ts';
import { ContextService } from '../context/service.ts';
import { DhcpSupervisor } from './dhcp-supervisor.ts';
import { IpamService } from './ipam.ts';
import { networkRoutes } from './routes.ts';

export interface NetworkFeatureDeps {
  config: ControllerConfig;
  db: Db;
  app: Express;
  log: Logger;
}

export class NetworkFeature {
  readonly ipam: IpamService;
  readonly dhcp: DhcpSupervisor | undefined;
  readonly context: ContextService;

  constructor(d: NetworkFeatureDeps) {
    const c = d.config.network;
    const log = d.log.child({ part: 'network' });
    this.ipam = new IpamService(d.db, log);
    this.dhcp = c.dhcp
      ? new DhcpSupervisor({
          ipam: this.ipam,
          log,
          stateDir: c.dhcp_dir,
          batchMs: c.dhcp_batch_ms,
          manageLinks: c.manage_links,
        })
      : undefined;
    this.context = new ContextService({
      db: d.db,
      log,
      dir: c.context_dir || join(d.config.controller.state_dir, 'context'),
      ipam: this.ipam,
    });
    d.app.use('/v1', networkRoutes(this.ipam, this.dhcp));
    d.app.use('/v1', contextRoutes(this.context));
  }

  /** Starts a dnsmasq for every network (failures are logged and shown in the network's status). */
  async start(): Promise<void> {
    await this.dhcp?.start();
  }

  async stop(): Promise<void> {
    await this.dhcp?.stop();
  }
}
