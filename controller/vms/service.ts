// The controller's VM operations for the REST API: create (quota-checked, then left to the scheduler),
// power actions and console through the VM's agent, delete (what the VM holds is released only once its
// host confirms that the domain is gone). How the fleet's news moves VMs is the reconciler's
// (reconciler.ts). Users see and act on their own VMs only.

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { ConflictError, NotFoundError, StratusError, ValidationError } from '../../common/errors.ts';
import type { VmContextInput } from '../../protocol/context.ts';
import type { NicFirewall } from '../../protocol/network.ts';
import type { Principal, UserStore } from '../auth/users.ts';
import type { InstanceTypeStore } from '../catalog/instance-types.ts';
import type { ImageRegistry } from '../images/registry.ts';
import { type Deployer, controllerState } from './deployer.ts';
import type { Fleet } from '../fleet/fleet-view.ts';
import type { CommandDispatcher } from '../mqtt/command-dispatcher.ts';
import type { DeployHook } from './deploy-hook.ts';
import { Reconciler } from './reconciler.ts';
import { HOLDS_CAPACITY } from './states.ts';
import type { VmRecord, VmStore } from './store.ts';
import type { CommandArgs, CommandResult } from '../../protocol/mqtt/index.ts';

/** Commands about one VM that the API relays to its host (snapshots, save-as). */
export type VmHostCommand = 'snapshot.list' | 'snapshot.create' | 'snapshot.revert' | 'snapshot.delete' | 'save-as';

export interface CreateVmInput {
  name: string;
  type: string;
  image: string;
  count?: number | undefined;
  cluster?: string | undefined;
  requiredFeatures?: string[] | undefined;
  antiAffinityGroup?: string | undefined;
  nics?: { network: string; firewall?: NicFirewall | undefined }[] | undefined;
  /** Volume ids attached before the VM starts. */
  volumes?: string[] | undefined;
  /** Root disk size in GiB (grows the image's virtual size); default: the type's. */
  diskGiB?: number | undefined;
  /** Blank disks deleted with the VM, GiB each. */
  volatileDisksGiB?: number[] | undefined;
  /** Images attached read-only after the root disk (ids or names). */
  readonlyImages?: string[] | undefined;
  /** Keys, user data, start script, login user, context method, variables (controller/context/vm-context.ts). */
  context?: VmContextInput | undefined;
}

/**
 * A feature that owns part of a creation request (the VM's context, its extra disks): `check` validates
 * it before anything is created and returns what to store, run inside the creation's transaction.
 */
export interface VmCreateExtension {
  check(input: CreateVmInput, who: Principal): (vms: VmRecord[]) => void;
}

export class VmActionForbiddenError extends StratusError {
  constructor(id: string) {
    super('STRATUS_ERR_FORBIDDEN', `VM ${id} belongs to another user`, { status: 403, details: { id } });
  }
}

export interface VmServiceOptions {
  store: VmStore;
  users: UserStore;
  types: InstanceTypeStore;
  images: ImageRegistry;
  fleet: Fleet;
  dispatcher: CommandDispatcher;
  deployer: Deployer;
  hooks: DeployHook[];
  log: Logger;
  kick: () => void;
  /** Resolves a network id or name to its id; throws NotFoundError (from the network feature). */
  resolveNetwork?: (idOrName: string) => string;
  /** Checks that a volume exists, belongs to the caller and can be attached; throws 404/409 otherwise. */
  checkVolume?: (id: string, who: Principal) => void;
  /** Parts of a creation request owned by other features (context, disks). */
  extensions?: VmCreateExtension[];
  actionTimeoutMs: number;
  /** Milliseconds between two reconcile passes (reconciler.ts). */
  reconcileIntervalMs?: number;
}

export class ControllerVmService extends EventEmitter<{ changed: [VmRecord] }> {
  readonly reconciler: Reconciler;
  /** VMs being migrated (controller/vms/migrator.ts): host reports about them wait until it is done. */
  readonly moving = new Set<string>();

  constructor(private readonly o: VmServiceOptions) {
    super();
    this.reconciler = new Reconciler({
      store: o.store,
      fleet: o.fleet,
      dispatcher: o.dispatcher,
      deployer: o.deployer,
      log: o.log,
      kick: o.kick,
      actionTimeoutMs: o.actionTimeoutMs,
      intervalMs: o.reconcileIntervalMs ?? 30_000,
      isMoving: (id) => this.moving.has(id),
    });
  }

  stop(): void {
    this.reconciler.stop();
    this.o.deployer.stop();
  }

  /** A VM the principal may read: 404 for other users' VMs (their existence is not revealed). */
  visible(id: string, who: Principal): VmRecord {
    const vm = this.o.store.find(id);
    if (!vm || vm.state === 'deleted' || (who.role !== 'admin' && vm.ownerId !== who.id))
      throw new NotFoundError('VM', id);
    return vm;
  }

  /** A VM the principal may act on: 403 when it exists but belongs to someone else. */
  owned(id: string, who: Principal): VmRecord {
    const vm = this.o.store.find(id);
    if (!vm || vm.state === 'deleted') throw new NotFoundError('VM', id);
    if (who.role !== 'admin' && vm.ownerId !== who.id) throw new VmActionForbiddenError(id);
    return vm;
  }

  list(who: Principal): VmRecord[] {
    return this.o.store.list(who.role === 'admin' ? {} : { ownerId: who.id });
  }

  create(input: CreateVmInput, who: Principal): VmRecord[] {
    const type = this.o.types.get(input.type);
    const image = this.o.images.resolve(input.image, who);
    if (image.state !== 'available') throw new ConflictError(`image ${image.name} is ${image.state}`);
    if (image.format === 'kernel' || image.format === 'ramdisk') {
      throw new ValidationError(`image ${image.name} is a ${image.format}, not a disk image`);
    }
    if (image.expiresAt && Date.parse(image.expiresAt) < Date.now()) {
      throw new ValidationError(`image ${image.name} expired on ${image.expiresAt}`);
    }
    const user = this.o.users.get(who.id);
    const placement: VmRecord['placement'] = {};
    if (input.cluster) placement.cluster = input.cluster;
    if (input.requiredFeatures?.length) placement.requiredFeatures = input.requiredFeatures;
    if (input.antiAffinityGroup) placement.antiAffinityGroup = input.antiAffinityGroup;
    const nics = (input.nics ?? []).map((n) => {
      if (!this.o.resolveNetwork) throw new ValidationError('this controller has no networks');
      return { network: this.o.resolveNetwork(n.network), ...(n.firewall ? { firewall: n.firewall } : {}) };
    });
    const volumes = [...new Set(input.volumes ?? [])];
    for (const id of volumes) {
      if (!this.o.checkVolume) throw new ValidationError('this controller has no volumes');
      this.o.checkVolume(id, who);
    }
    if (volumes.length > 0 && (input.count ?? 1) > 1) {
      throw new ValidationError('volumes can be given to one VM at a time (count must be 1)');
    }
    const commits = (this.o.extensions ?? []).map((e) => e.check(input, who));
    const vms = this.o.store.db.transaction(() => {
      const created = this.o.store.createMany(
        {
          nics,
          volumes,
          name: input.name,
          ownerId: who.id,
          ownerName: who.name,
          type: type.name,
          vcpus: type.vcpus,
          memoryMiB: type.memoryMiB,
          diskGiB: input.diskGiB ?? type.diskGiB,
          volatileGiB: input.volatileDisksGiB ?? [],
          swapMiB: type.swapMiB ?? 0,
          imageId: image.id,
          placement,
        },
        input.count ?? 1,
        user.quota,
      );
      for (const commit of commits) commit(created);
      return created;
    })();
    this.o.log.info({ vms: vms.map((v) => v.id), user: who.name, type: type.name, image: image.id }, 'VMs created');
    this.o.kick();
    return vms;
  }

  private hostUp(vm: VmRecord): string {
    if (!vm.hostId) throw new ConflictError(`VM ${vm.id} is ${vm.state} and has no host yet`);
    const h = this.o.fleet.host(vm.hostId);
    if (!h?.up)
      throw new StratusError(
        'STRATUS_ERR_HOST_DOWN',
        `host ${vm.hostId} of VM ${vm.id} is down; retry when it is back`,
        { status: 409, details: { host: vm.hostId } },
      );
    return vm.hostId;
  }

  async act(
    id: string,
    action: 'start' | 'stop' | 'reboot',
    who: Principal,
    opts: { force?: boolean } = {},
  ): Promise<VmRecord> {
    const vm = this.owned(id, who);
    if (this.moving.has(id)) throw new ConflictError(`VM ${id} is being migrated; retry when it is done`);
    if (!['running', 'stopped', 'unknown'].includes(vm.state))
      throw new ConflictError(`cannot ${action} VM ${id} while it is ${vm.state}`);
    const host = this.hostUp(vm);
    const args = { vm: id, ...(action === 'stop' && opts.force ? { force: true } : {}) };
    const res = await this.o.dispatcher.dispatch(host, action, args, {
      key: `${action}:${id}:${Date.now()}`,
      timeoutMs: this.o.actionTimeoutMs,
    });
    const to = controllerState(res.state);
    if (to) this.o.store.transition(id, to, `${action} by ${who.name}`);
    this.o.kick();
    return this.o.store.get(id);
  }

  /**
   * Sends a command about a VM to its host (snapshots, save-as): reads need the VM to be visible to
   * the caller (404 otherwise), actions need it to be theirs (403).
   */
  async hostCommand<K extends VmHostCommand>(
    id: string,
    who: Principal,
    command: K,
    args: Omit<CommandArgs<K>, 'vm'>,
    mutating: boolean,
    timeoutMs = this.o.actionTimeoutMs,
  ): Promise<CommandResult<K>> {
    const vm = mutating ? this.owned(id, who) : this.visible(id, who);
    const host = this.hostUp(vm);
    return this.o.dispatcher.dispatch(
      host,
      command,
      // every VmHostCommand's arguments are { vm, ...rest }
      { vm: id, ...args } as CommandArgs<K>,
      {
        key: `${command}:${id}:${Date.now()}`,
        timeoutMs,
      },
    );
  }

  async console(id: string, who: Principal, bytes: number): Promise<string> {
    const vm = this.visible(id, who);
    const host = this.hostUp(vm);
    const res = await this.o.dispatcher.dispatch(
      host,
      'console',
      { vm: id, bytes },
      { key: `console:${id}:${Date.now()}`, timeoutMs: this.o.actionTimeoutMs },
    );
    return res.text;
  }

  async delete(id: string, who: Principal): Promise<void> {
    const vm = this.owned(id, who);
    if (this.moving.has(id)) throw new ConflictError(`VM ${id} is being migrated; retry when it is done`);
    this.reconciler.beginDelete(id);
    try {
      // a copy may exist wherever the VM was placed or a host reports it: each host confirms it is gone
      const hosts = new Set(this.reconciler.copiesOf(id).keys());
      if (vm.hostId && (HOLDS_CAPACITY.has(vm.state) || vm.state === 'lost')) hosts.add(vm.hostId);
      for (const host of hosts) await this.deleteOn(vm, host);
      for (const hook of this.o.hooks) await hook.release?.(vm);
      this.o.store.transition(id, 'deleted', `deleted by ${who.name}`);
    } finally {
      this.reconciler.endDelete(id);
    }
    this.o.log.info({ vm: id, user: who.name }, 'VM deleted');
    this.o.kick();
  }

  private async deleteOn(vm: VmRecord, host: string): Promise<void> {
    this.hostUp({ ...vm, hostId: host });
    try {
      await this.o.dispatcher.dispatch(
        host,
        'delete',
        { vm: vm.id },
        { key: `delete:${vm.id}:${host}:${randomUUID()}`, timeoutMs: this.o.actionTimeoutMs },
      );
    } catch (err) {
      if (!(err instanceof StratusError && err.status === 404)) throw err;
    }
  }

  /** At start: resume deploys that were in flight when the controller stopped; place what waits. */
  recover(): void {
    for (const vm of this.o.store.list({ states: ['scheduled', 'deploying'] })) void this.o.deployer.deploy(vm.id);
    this.o.kick();
  }
}
