// Networks as a controller feature: IPAM (networks, leases, holds), the DHCP supervisor (one dnsmasq
// per network, when this node serves DHCP), the deploy hook that gives deployed VMs their NICs, and the
// /v1/networks routes. Context CD-ROMs, built from these leases, are the context feature's.

import type { Router } from 'express';
import type { Logger } from 'pino';
import type { Db } from '../../common/sqlite.ts';
import type { ControllerConfig } from '../config.ts';
import type { ControllerFeature } from '../feature.ts';
import type { DeployHook } from '../vms/deploy-hook.ts';
import type { VmRecord } from '../vms/store.ts';
import { type NicRequest, NetworkDeployHook } from './deploy-hook.ts';
import { DhcpSupervisor } from './dhcp-supervisor.ts';
import { IpamService } from './ipam.ts';
import { networkRoutes } from './routes.ts';

export interface NetworkFeatureDeps {
  config: ControllerConfig;
  db: Db;
  log: Logger;
  /** The NICs of a deployed VM; default: its own, else one on [network] default_network, if set. */
  nicsFor?: (vm: VmRecord) => NicRequest[];
}

export class NetworkFeature implements ControllerFeature {
  readonly name = 'network';
  readonly ipam: IpamService;
  readonly dhcp: DhcpSupervisor | undefined;
  readonly routes: readonly Router[];
  readonly deployHooks: readonly DeployHook[];

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
    const byDefault: NicRequest[] = c.default_network ? [{ network: c.default_network }] : [];
    this.deployHooks = [
      new NetworkDeployHook({
        ipam: this.ipam,
        // the VM's own NICs when its creation asked for networks, else the configured default network
        nicsFor: d.nicsFor ?? ((vm) => (vm.nics.length > 0 ? vm.nics : byDefault)),
      }),
    ];
    this.routes = [networkRoutes(this.ipam, this.dhcp)];
  }

  /** Resolves a network id or name to its id (VMs name networks at creation); 404 when unknown. */
  resolve(idOrName: string): string {
    return this.ipam.getNetwork(idOrName).id;
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
    return this.addressesOf([vmId]).get(vmId) ?? [];
  }

  /** The addresses of many VMs (one query), as addresses() gives them; VMs without any are absent. */
  addressesOf(vmIds: readonly string[]): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [vm, leases] of this.ipam.leasesOfVms(vmIds)) {
      out.set(
        vm,
        leases
          .sort((a, b) => (a.nicIndex ?? 0) - (b.nicIndex ?? 0))
          .flatMap((l) => [l.ipv4, l.ipv6, l.ipv6Slaac].filter((a): a is string => !!a)),
      );
    }
    return out;
  }
}
