// Networks and contextualization as one controller feature: IPAM, the DHCP supervisor (when this node
// serves DHCP), context ISOs, the deploy hook that gives deployed VMs their NICs and context, and the
// REST routes. The daemon creates it before the cloud (which takes the hook), mounts its routes after
// the cloud's authentication, starts it, and stops it before closing the database.

import { join } from 'node:path';
import type { Express } from 'express';
import type { Logger } from 'pino';
import type { Db } from '../../common/sqlite.ts';
import type { ControllerConfig } from '../config.ts';
import { contextRoutes } from '../context/routes.ts';
import { ContextService } from '../context/service.ts';
import type { VmContextRequest } from '../context/vm-context.ts';
import type { VmRecord } from '../vms/store.ts';
import { type NicRequest, NetworkDeployHook } from './deploy-hook.ts';
import { DhcpSupervisor } from './dhcp-supervisor.ts';
import { IpamService } from './ipam.ts';
import { networkRoutes } from './routes.ts';

export interface NetworkFeatureDeps {
  config: ControllerConfig;
  db: Db;
  log: Logger;
  /** Address the API listens on, known after listen (for the default public URL). */
  apiAddress: () => string;
  /** The NICs of a deployed VM; default: one on [network] default_network, if set. */
  nicsFor?: (vm: VmRecord) => NicRequest[];
  /** What a VM's creation asked of its context (keys, user data, method; controller/context/vm-context.ts). */
  contextFor?: (vm: VmRecord) => VmContextRequest | undefined;
}

export class NetworkFeature {
  readonly ipam: IpamService;
  readonly dhcp: DhcpSupervisor | undefined;
  readonly context: ContextService;
  readonly deployHook: NetworkDeployHook;

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
      ttlS: d.config.api.capability_ttl_s,
    });
    const byDefault: NicRequest[] = c.default_network ? [{ network: c.default_network }] : [];
    this.deployHook = new NetworkDeployHook({
      ipam: this.ipam,
      context: this.context,
      // the VM's own NICs when its creation asked for networks, else the configured default network
      nicsFor: d.nicsFor ?? ((vm) => (vm.nics.length > 0 ? vm.nics : byDefault)),
      publicUrl: () => d.config.api.public_url || `http://${d.apiAddress()}`,
      flavour: c.context_flavour,
      addressing: c.context_addressing,
      ...(d.contextFor ? { contextFor: d.contextFor } : {}),
    });
  }

  /** Mounts /v1/networks and /v1/context (after the authentication middleware). */
  mount(app: Express): void {
    app.use('/v1', networkRoutes(this.ipam, this.dhcp));
    app.use('/v1', contextRoutes(this.context));
  }

  /** Starts a dnsmasq for every network (failures are logged and shown in the network's status). */
  async start(): Promise<void> {
    await this.dhcp?.start();
  }

  async stop(): Promise<void> {
    await this.dhcp?.stop();
  }

  /** The VM's addresses from its leases, in NIC order (IPv4 first, then IPv6). */
  addresses(vmId: string): string[] {
    return this.ipam
      .leasesOfVm(vmId)
      .sort((a, b) => (a.nicIndex ?? 0) - (b.nicIndex ?? 0))
      .flatMap((l) => [l.ipv4, l.ipv6, l.ipv6Slaac].filter((a): a is string => !!a));
  }
}
