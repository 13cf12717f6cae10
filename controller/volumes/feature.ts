// Persistent volumes as a controller feature, from the [volumes] configuration: the store (its own
// migrations in the controller database), the backends, the service, the tgtd watch that restores
// targets at start and whenever tgtd comes back, the /v1/volumes routes and the deploy hook that opens
// a VM's volumes to its host. VMs and agents are reached through the VolumeHosts port (ports.ts;
// agent-commands.ts in a running controller).

import type { Router } from 'express';
import type { Logger } from 'pino';
import type { Db } from '../../common/sqlite.ts';
import { Tgtadm } from '../../drivers/tgtadm.ts';
import type { ControllerFeature } from '../feature.ts';
import type { DeployHook } from '../vms/deploy-hook.ts';
import type { VolumeBackend } from './backend.ts';
import type { VolumesConfig } from './config.ts';
import { FileBackend } from './file-backend.ts';
import { IscsiBackend, type RestoreReport } from './iscsi-backend.ts';
import type { VolumeHosts } from './ports.ts';
import { VolumeService } from './service.ts';
import { volumeDeployHook } from './deploy-hook.ts';
import { volumeRoutes } from './routes.ts';
import { VolumeStore } from './store.ts';
import { TgtdWatch } from './tgtd-watch.ts';
import type { HostPathGuard } from '../../common/host-paths.ts';

export interface VolumeFeatureOptions {
  db: Db;
  log: Logger;
  config: VolumesConfig;
  hosts: VolumeHosts;
  /** Host paths (file volumes) only under [controller] allowed_roots. */
  paths?: HostPathGuard;
  quotaOf?: (ownerId: string) => { volumes: number; gib: number } | undefined;
}

export class VolumeFeature implements ControllerFeature {
  readonly name = 'volumes';
  readonly store: VolumeStore;
  readonly routes: readonly Router[];
  readonly deployHooks: readonly DeployHook[];
  readonly service: VolumeService;
  readonly iscsi: IscsiBackend;
  readonly tgt: Tgtadm;
  readonly watch: TgtdWatch;
  private readonly log: Logger;

  constructor(o: VolumeFeatureOptions) {
    const c = o.config;
    this.log = o.log.child({ feature: 'volumes' });
    this.store = new VolumeStore(o.db);
    this.tgt = new Tgtadm({ controlPort: c.tgt_control_port });
    this.iscsi = new IscsiBackend({
      tgt: this.tgt,
      log: this.log,
      portal: c.iscsi_portal,
      iqnPrefix: c.iqn_prefix,
      backingDir: c.backing_dir,
      volumeGroup: c.volume_group,
    });
    const backends: Record<string, VolumeBackend> = { iscsi: this.iscsi, file: new FileBackend(c.file_dir, o.paths) };
    this.service = new VolumeService({
      store: this.store,
      log: this.log,
      backends,
      defaultBackend: c.default_backend,
      fileFormat: c.file_format,
      hosts: o.hosts,
      defaultQuota: { volumes: c.default_max_volumes, gib: c.default_max_gib },
      ...(o.quotaOf ? { quotaOf: o.quotaOf } : {}),
    });
    this.routes = [volumeRoutes(this.service)];
    this.deployHooks = [volumeDeployHook(this.service)];
    this.watch = new TgtdWatch({
      tgt: this.tgt,
      log: this.log,
      restore: () => this.restoreTargets(),
      intervalMs: c.tgtd_check_interval_s * 1000,
      fullIntervalMs: c.tgtd_full_check_interval_s * 1000,
      idle: () => !this.service.hasIscsiVolumes(),
    });
  }

  /** Makes tgtd hold exactly the targets the database describes. */
  restoreTargets(): Promise<RestoreReport> {
    const { wanted, known } = this.service.wantedTargets();
    return this.iscsi.restore(wanted, known);
  }

  /** Settles volume operations a restart interrupted (before the API takes requests). */
  recover(): Promise<void> {
    return this.service.recover();
  }

  /** Restores tgtd's targets and keeps watching it. */
  async start(): Promise<void> {
    await this.watch.start();
    if (!this.watch.healthy) this.log.warn('tgtd is not reachable yet: iSCSI volumes cannot be attached until it is');
  }

  async stop(): Promise<void> {
    await this.watch.stop();
  }
}
