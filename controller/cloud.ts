// The cloud side of the controller: users, instance types, images, VMs, the scheduler and the deployer,
// mounted on the daemon's REST API under /v1 with bearer authentication, plus /v1/openapi.json.
// The fleet view and the command dispatcher come from the MQTT feature.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Express } from 'express';
import type { Logger } from 'pino';
import type { Db } from '../common/sqlite.ts';
import { readOrCreateSecretFile, writeSecretFile } from '../drivers/host-fs.ts';
import { adminRoutes } from './api/admin-routes.ts';
import { openApiDocument } from './api/openapi.ts';
import { authenticate } from './auth/middleware.ts';
import { type Principal, UserStore } from './auth/users.ts';
import { InstanceTypeStore } from './catalog/instance-types.ts';
import type { ControllerConfig } from './config.ts';
import { ImageContent } from './images/content.ts';
import { ImageRegistry } from './images/registry.ts';
import { KeysFeature } from './keys/feature.ts';
import { imageRoutes } from './images/routes.ts';
import { SchedulerService } from './scheduler/service.ts';
import { Deployer } from './vms/deployer.ts';
import { HostAdminStore } from './vms/host-admin.ts';
import type { CommandDispatcher, Fleet } from './vms/ports.ts';
import { ControllerVmService } from './vms/service.ts';
import { type DeployHook, SpecBuilder } from './vms/spec-builder.ts';
import { type VmRecord, VmStore } from './vms/store.ts';
import { ExtraDisks } from './vms/extra-disks.ts';
import { type VmViewExtra, vmRoutes } from './vms/routes.ts';
import { snapshotRoutes } from './vms/snapshot-routes.ts';

export interface CloudDeps {
  config: ControllerConfig;
  db: Db;
  app: Express;
  log: Logger;
  fleet: Fleet;
  dispatcher: CommandDispatcher;
  /** Address the API listens on, known after listen (for the default public URL). */
  apiAddress: () => string;
  hooks?: DeployHook[];
  /** Resolves a network id or name to its id (the network feature); VMs may then ask for NICs on it. */
  resolveNetwork?: (idOrName: string) => string;
  /** Checks a volume a VM asks for at creation (the volume feature). */
  checkVolume?: (id: string, who: Principal) => void;
  /** Fields other features add to VM views (e.g. addresses from the network feature). */
  vmViewExtras?: VmViewExtra[];
}

/** A secret that survives restarts (capability URLs stay valid), kept in the state directory. */
function persistentSecret(stateDir: string): Buffer {
  const b64 = readOrCreateSecretFile(join(stateDir, 'controller.secret'), () => randomBytes(32).toString('base64'));
  return Buffer.from(b64, 'base64');
}

export class Cloud {
  readonly users: UserStore;
  readonly types: InstanceTypeStore;
  readonly images: ImageRegistry;
  readonly content: ImageContent;
  readonly store: VmStore;
  readonly hostAdmin: HostAdminStore;
  readonly scheduler: SchedulerService;
  readonly deployer: Deployer;
  readonly vms: ControllerVmService;
  readonly hooks: DeployHook[];
  /** Users' SSH keys (/v1/keys) and the context each VM is created with. */
  readonly keys: KeysFeature;
  /** Read-only image disks a VM asks for at creation. */
  readonly extraDisks: ExtraDisks;

  constructor(private readonly d: CloudDeps) {
    const c = d.config;
    this.hooks = [...(d.hooks ?? [])];
    this.users = new UserStore(d.db);
    this.types = new InstanceTypeStore(d.db);
    this.images = new ImageRegistry(d.db);
    this.store = new VmStore(d.db);
    this.hostAdmin = new HostAdminStore(d.db);
    this.keys = new KeysFeature({ db: d.db, siteMethod: () => c.network.context_flavour });
    const publicUrl = c.api.public_url || `http://${c.api.listen}`;
    this.content = new ImageContent(
      join(c.controller.state_dir, 'images'),
      persistentSecret(c.controller.state_dir),
      publicUrl.replace(/\/$/, ''),
    );
    const specs = new SpecBuilder(this.images, this.content);
    this.extraDisks = new ExtraDisks(d.db, this.images, specs);
    this.hooks.push(this.extraDisks.deployHook);
    this.deployer = new Deployer({
      store: this.store,
      specs,
      dispatcher: d.dispatcher,
      hooks: this.hooks,
      log: d.log,
      maxAttempts: c.scheduler.max_deploy_attempts,
      deployTimeoutMs: c.scheduler.deploy_timeout_s * 1000,
      onRequeue: () => this.scheduler.kick(),
      hostUp: (host) => d.fleet.host(host)?.up ?? false,
    });
    this.scheduler = new SchedulerService({
      store: this.store,
      fleet: d.fleet,
      hostAdmin: this.hostAdmin,
      log: d.log,
      deploy: (id) => void this.deployer.deploy(id),
      imageSha256: (id) => this.images.find(id)?.sha256 ?? undefined,
      policy: () => ({
        rank: c.scheduler.policy,
        cpuOvercommit: c.scheduler.cpu_overcommit,
        memoryOvercommit: c.scheduler.memory_overcommit,
        imageCacheBonus: c.scheduler.image_cache_bonus,
      }),
    });
    this.vms = new ControllerVmService({
      store: this.store,
      users: this.users,
      types: this.types,
      images: this.images,
      fleet: d.fleet,
      dispatcher: d.dispatcher,
      deployer: this.deployer,
      hooks: this.hooks,
      log: d.log,
      kick: () => this.scheduler.kick(),
      ...(d.resolveNetwork ? { resolveNetwork: d.resolveNetwork } : {}),
      ...(d.checkVolume ? { checkVolume: d.checkVolume } : {}),
      extensions: [this.keys.createExtension, this.extraDisks.createExtension],
      actionTimeoutMs: c.scheduler.action_timeout_s * 1000,
      deployTimeoutMs: c.scheduler.deploy_timeout_s * 1000,
    });
    this.bootstrapAdmin();
    d.app.get('/v1/openapi.json', (_req, res) => {
      res.json(openApiDocument());
    });
    d.app.use('/v1', authenticate(this.users));
    d.app.use('/v1', imageRoutes(this.images, this.content, this.store, d.log));
    d.app.use('/v1', snapshotRoutes(this.vms, this.images, this.content, c.scheduler.deploy_timeout_s * 1000));
    const readonlyImages = (vm: VmRecord) => ({ readonlyImages: this.extraDisks.of(vm.id) });
    d.app.use('/v1', vmRoutes(this.vms, this.store, [this.keys.viewExtra, readonlyImages, ...(d.vmViewExtras ?? [])]));
    d.app.use('/v1', this.keys.routes);
    d.app.use(
      '/v1',
      adminRoutes({
        fleet: d.fleet,
        hostAdmin: this.hostAdmin,
        scheduler: this.scheduler,
        types: this.types,
        users: this.users,
      }),
    );
  }

  /** The first admin: from [api] admin_token, or generated once into <state_dir>/admin.token (0600). */
  private bootstrapAdmin(): void {
    if (this.users.hasAdmin()) return;
    const given = this.d.config.api.admin_token;
    const { token } = this.users.create(
      'admin',
      'admin',
      { vms: 10_000, vcpus: 1_000_000, memoryMiB: 1 << 30 },
      given || undefined,
    );
    if (!given) {
      const path = join(this.d.config.controller.state_dir, 'admin.token');
      writeSecretFile(path, token);
      this.d.log.info({ path }, 'admin token written');
    }
  }

  /** After the API listens and MQTT is up: resume deploys and place waiting VMs. */
  start(): void {
    this.vms.recover();
  }

  stop(): void {
    this.vms.stop();
  }
}
