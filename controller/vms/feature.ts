// VMs as a controller feature: instance types, the VM state machine's store (built by the daemon before
// every feature, since images and volumes check it too), the scheduler, the deployer with the deploy
// hooks of the features built before this one, the VM service, and the /v1 routes of VMs, snapshots,
// hosts, types and users. The fleet view and the command dispatcher come from the MQTT side.

import type { Router } from 'express';
import type { Logger } from 'pino';
import { ConflictError } from '../../common/errors.ts';
import type { Db } from '../../common/sqlite.ts';
import { adminRoutes } from '../api/admin-routes.ts';
import type { UserStore } from '../auth/users.ts';
import { InstanceTypeStore } from '../catalog/instance-types.ts';
import type { ControllerConfig } from '../config.ts';
import type { ControllerFeature } from '../feature.ts';
import type { Fleet } from '../fleet/fleet-view.ts';
import type { ImagesFeature } from '../images/feature.ts';
import type { CommandDispatcher } from '../mqtt/command-dispatcher.ts';
import type { NetworkFeature } from '../network/feature.ts';
import { SchedulerService } from '../scheduler/service.ts';
import type { VolumeService } from '../volumes/service.ts';
import type { DeployHook } from './deploy-hook.ts';
import { Deployer } from './deployer.ts';
import { HostAdminStore } from './host-admin.ts';
import { type VmViewExtra, vmRoutes } from './routes.ts';
import { ControllerVmService, type VmCreateExtension } from './service.ts';
import { snapshotRoutes } from './snapshot-routes.ts';
import { SpecBuilder } from './spec-builder.ts';
import type { VmStore } from './store.ts';

export interface VmFeatureDeps {
  config: ControllerConfig;
  db: Db;
  log: Logger;
  store: VmStore;
  users: UserStore;
  images: ImagesFeature;
  fleet: Fleet;
  dispatcher: CommandDispatcher;
  /** Deploy hooks of the features built before this one, in their order. */
  hooks: readonly DeployHook[];
  /** Networks VMs may name at creation (absent: VMs cannot ask for NICs). */
  network?: NetworkFeature;
  /** Volumes VMs may attach at creation (absent: VMs cannot ask for volumes). */
  volumes?: VolumeService;
  /** Parts of VM creation other features own (the keys feature: `context`). */
  extensions?: readonly VmCreateExtension[];
  /** Fields other features add to VM views (context summary, addresses). */
  viewExtras?: readonly VmViewExtra[];
}

export class VmFeature implements ControllerFeature {
  readonly name = 'vms';
  readonly types: InstanceTypeStore;
  readonly store: VmStore;
  readonly hostAdmin: HostAdminStore;
  readonly scheduler: SchedulerService;
  readonly deployer: Deployer;
  readonly service: ControllerVmService;
  readonly routes: readonly Router[];

  constructor(d: VmFeatureDeps) {
    const c = d.config;
    const hooks = [...d.hooks];
    this.store = d.store;
    this.types = new InstanceTypeStore(d.db);
    this.hostAdmin = new HostAdminStore(d.db);
    this.deployer = new Deployer({
      store: this.store,
      specs: new SpecBuilder(d.images.registry, d.images.content),
      dispatcher: d.dispatcher,
      hooks,
      log: d.log,
      maxAttempts: c.scheduler.max_deploy_attempts,
      deployTimeoutMs: c.scheduler.deploy_timeout_s * 1000,
      hostExclusionMs: c.scheduler.host_exclusion_s * 1000,
      onUnknown: (id, host, code) => this.service.reconciler.unresolved(id, host, code),
      onRequeue: () => this.scheduler.kick(),
      hostUp: (host) => d.fleet.host(host)?.up ?? false,
    });
    this.scheduler = new SchedulerService({
      store: this.store,
      fleet: d.fleet,
      hostAdmin: this.hostAdmin,
      log: d.log,
      deploy: (id) => void this.deployer.deploy(id),
      imageSha256: (id) => d.images.registry.find(id)?.sha256 ?? undefined,
      policy: () => ({
        rank: c.scheduler.policy,
        cpuOvercommit: c.scheduler.cpu_overcommit,
        memoryOvercommit: c.scheduler.memory_overcommit,
        imageCacheBonus: c.scheduler.image_cache_bonus,
      }),
    });
    const network = d.network;
    const volumes = d.volumes;
    this.service = new ControllerVmService({
      store: this.store,
      users: d.users,
      types: this.types,
      images: d.images.registry,
      fleet: d.fleet,
      dispatcher: d.dispatcher,
      deployer: this.deployer,
      hooks,
      log: d.log,
      kick: () => this.scheduler.kick(),
      extensions: [...(d.extensions ?? [])],
      ...(network ? { resolveNetwork: (n: string) => network.resolve(n) } : {}),
      ...(volumes
        ? {
            checkVolume: (id: string, who: { id: string; role: string }) => {
              const v = volumes.get(id, who.role === 'admin' ? undefined : who.id);
              if (v.state !== 'available' && !v.shareable)
                throw new ConflictError(`volume ${v.name} is ${v.state}`, { id });
            },
          }
        : {}),
      actionTimeoutMs: c.scheduler.action_timeout_s * 1000,
      reconcileIntervalMs: c.scheduler.reconcile_interval_s * 1000,
    });
    this.routes = [
      snapshotRoutes(this.service, d.images.registry, d.images.content, c.scheduler.deploy_timeout_s * 1000),
      vmRoutes(this.service, this.store, [...(d.viewExtras ?? [])]),
      adminRoutes({
        fleet: d.fleet,
        hostAdmin: this.hostAdmin,
        scheduler: this.scheduler,
        types: this.types,
        users: d.users,
      }),
    ];
  }

  /** After the API listens and MQTT is up: resume deploys and place waiting VMs. */
  start(): void {
    this.service.recover();
  }

  stop(): void {
    this.service.stop();
  }
}
