// VMs as a controller feature: instance types, the VM state machine's store (built by the daemon before
// every feature, since images and volumes check it too), the scheduler, the deployer with the deploy
// hooks of the features built before this one, the VM service, and the /v1 routes of VMs, snapshots,
// hosts, types and users. The fleet view and the command dispatcher come from the MQTT side.

import type { Router } from 'express';
import type { Logger } from 'pino';
import { ConflictError } from '../../common/errors.ts';
import { dataVersion, type Db, onTableChanges } from '../../common/sqlite.ts';
import { TurnQueue } from '../../common/turn-queue.ts';
import { adminRoutes } from '../api/admin-routes.ts';
import type { UserStore } from '../auth/users.ts';
import { InstanceTypeStore } from '../catalog/instance-types.ts';
import type { ControllerConfig } from '../config.ts';
import type { ControllerFeature } from '../feature.ts';
import type { Fleet } from '../fleet/fleet-view.ts';
import type { ImagesFeature } from '../images/feature.ts';
import type { ImageRecord } from '../images/registry.ts';
import type { CommandDispatcher } from '../mqtt/command-dispatcher.ts';
import type { NetworkFeature } from '../network/feature.ts';
import { SchedulerService } from '../scheduler/service.ts';
import type { VolumeService } from '../volumes/service.ts';
import type { DeployHook } from './deploy-hook.ts';
import { Deployer } from './deployer.ts';
import { ExtraDisks } from './extra-disks.ts';
import { HostAdminStore } from './host-admin.ts';
import { migrationRoutes } from './migration-routes.ts';
import { VmMigrator } from './migrator.ts';
import { type VmViewExtra, vmRoutes } from './routes.ts';
import { ControllerVmService, type VmCreateExtension } from './service.ts';
import { snapshotRoutes } from './snapshot-routes.ts';
import { VmViewCache } from './view-cache.ts';
import { SpecBuilder } from './spec-builder.ts';
import type { VmStore } from './store.ts';
import { diskBytes, diskViews } from './vm-disks.ts';

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
  /** The tables those extras read: a write to any of them clears the cached VM lists. */
  viewTables?: readonly string[];
  /** Runs once a saved image (save-as) is stored: the Marketplace signs its entry with the site key. */
  onImageSaved?: (img: ImageRecord) => Promise<unknown>;
}

export class VmFeature implements ControllerFeature {
  readonly name = 'vms';
  /** The answers of GET /v1/vms and /v1/vms/{id} until a table of the views changes (controller/vms/view-cache.ts). */
  readonly viewCache: VmViewCache;
  /** Deploys the scheduler started, a few per turn of the event loop. */
  private readonly deployStarts = new TurnQueue(8);
  readonly types: InstanceTypeStore;
  readonly store: VmStore;
  readonly hostAdmin: HostAdminStore;
  readonly scheduler: SchedulerService;
  readonly deployer: Deployer;
  readonly service: ControllerVmService;
  readonly migrator: VmMigrator;
  readonly routes: readonly Router[];
  /** Read-only image disks VMs ask for at creation (`readonlyImages`). */
  readonly extraDisks: ExtraDisks;

  constructor(d: VmFeatureDeps) {
    const c = d.config;
    const specs = new SpecBuilder(d.images.registry, d.images.content);
    this.extraDisks = new ExtraDisks(d.db, d.images.registry, specs);
    this.viewCache = new VmViewCache({ externalVersion: () => dataVersion(d.db) });
    // every table a VM view is made of: any write there, by whichever code, clears the cached lists
    onTableChanges(
      d.db,
      'stratus_vm_views_changed',
      ['vms', 'vm_events', 'vm_extra_disks', ...(d.viewTables ?? [])],
      () => this.viewCache.invalidate(),
    );
    const hooks = [...d.hooks, this.extraDisks.deployHook];
    this.store = d.store;
    this.types = new InstanceTypeStore(d.db);
    this.hostAdmin = new HostAdminStore(d.db);
    this.deployer = new Deployer({
      store: this.store,
      specs,
      dispatcher: d.dispatcher,
      hooks,
      log: d.log,
      maxAttempts: c.scheduler.max_deploy_attempts,
      deployTimeoutMs: c.scheduler.deploy_timeout_s * 1000,
      hostExclusionMs: c.scheduler.host_exclusion_s * 1000,
      onUnknown: (id, host, code) => this.service.reconciler.unresolved(id, host, code),
      onRequeue: () => this.scheduler.kick(),
      hostUp: (host) => d.fleet.host(host)?.up ?? false,
      upHosts: () =>
        d.fleet
          .hosts()
          .filter((h) => h.up)
          .map((h) => h.id),
    });
    const policy = () => ({
      rank: c.scheduler.policy,
      cpuOvercommit: c.scheduler.cpu_overcommit,
      memoryOvercommit: c.scheduler.memory_overcommit,
      imageCacheBonus: c.scheduler.image_cache_bonus,
    });
    this.scheduler = new SchedulerService({
      store: this.store,
      fleet: d.fleet,
      hostAdmin: this.hostAdmin,
      log: d.log,
      // the first steps of a deploy run at once (its record, its spec, the first hook): a pass that placed
      // 200 VMs started them all in one stretch of ~0.5-1 s at 10,000 hosts; 8 per turn of the loop now
      deploy: (id) => this.deployStarts.push(() => void this.deployer.deploy(id)),
      imageSha256: (id) => d.images.registry.find(id)?.sha256 ?? undefined,
      // a root disk that keeps the image's size counts the image's virtual size (its file size when
      // the controller could not inspect it)
      diskBytes: (vm) => {
        const img = d.images.registry.find(vm.imageId);
        return diskBytes(vm, img?.virtualSize ?? img?.sizeBytes ?? 0);
      },
      policy,
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
      extensions: [...(d.extensions ?? []), this.extraDisks.createExtension],
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
    this.migrator = new VmMigrator({
      store: this.store,
      fleet: d.fleet,
      dispatcher: d.dispatcher,
      scheduler: this.scheduler,
      hostAdmin: this.hostAdmin,
      policy,
      log: d.log,
      moving: this.service.moving,
      actionTimeoutMs: c.scheduler.action_timeout_s * 1000,
      prepareTimeoutMs: c.scheduler.deploy_timeout_s * 1000,
      migrateTimeoutMs: c.scheduler.migrate_timeout_s * 1000,
      parallel: c.scheduler.evacuate_parallel,
      ...(volumes ? { volumes } : {}),
      retarget: async (vm, target, spec) => {
        let s = specs.retarget(vm, target, spec);
        for (const h of hooks) if (h.retarget) s = await h.retarget(vm, target, s);
        return s;
      },
    });
    this.routes = [
      migrationRoutes(this.migrator),
      snapshotRoutes(
        this.service,
        d.images.registry,
        d.images.content,
        c.scheduler.deploy_timeout_s * 1000,
        d.onImageSaved,
      ),
      vmRoutes(
        this.service,
        this.store,
        [
          ...(d.viewExtras ?? []),
          (vms) => {
            const extra = this.extraDisks.ofMany(vms.map((v) => v.id));
            return (vm) => {
              const readonlyImages = extra.get(vm.id) ?? [];
              return { readonlyImages, disks: diskViews(vm, readonlyImages) };
            };
          },
        ],
        this.viewCache,
      ),
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
