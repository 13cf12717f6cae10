// Moves VMs between hosts (`POST /v1/vms/{id}/migrate`) and empties hosts for maintenance
// (`POST /v1/hosts/{id}/evacuate`). The target is chosen, or checked, by the scheduler's own filters
// with the source excluded. Steps (agent/vm/migration.ts): check on the source (spec, refusal), prepare on
// the target, perform on the source, finish on the target; then the VM's host changes here. A failure
// before the VM arrived aborts the target's preparation (the agent refuses if a domain exists there), so
// the VM stays running on the source and nothing is left on the target.
//
// A perform that fails is not taken at its word: the target is asked (abort) until it answers whether
// the VM arrived. Arrived (libvirt lost mid-move on the source, after the target finished): the move is
// completed as a success. Not arrived: the VM stayed, and the source is told so (`migrate.settle`), which
// resumes a copy libvirt left paused there. While neither host can answer (libvirtd down), the question is
// asked again, and the VM is left to the reconciliation when this controller stops asking.

import type { Logger } from 'pino';
import { asStratusError, ConflictError, NotFoundError, StratusError } from '../../common/errors.ts';
import type { EvacuationView, MigratingVolume, MigrationView, VolumePlacement } from '../../protocol/migration.ts';
import { schedule } from '../scheduler/scheduler.ts';
import type { SchedulerService } from '../scheduler/service.ts';
import type { SchedulerPolicy } from '../scheduler/types.ts';
import type { HostAdminStore } from './host-admin.ts';
import type { Fleet } from '../fleet/fleet-view.ts';
import type { CommandDispatcher } from '../mqtt/command-dispatcher.ts';
import type { AgentCommand, CommandArgs, CommandResult } from '../../protocol/mqtt/index.ts';
import type { VmRecord, VmStore } from './store.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';

export interface MigratorOptions {
  store: VmStore;
  fleet: Fleet;
  dispatcher: CommandDispatcher;
  scheduler: SchedulerService;
  hostAdmin: HostAdminStore;
  policy: () => SchedulerPolicy;
  log: Logger;
  /** VMs being moved: the VM service ignores what hosts report about them meanwhile. */
  moving: Set<string>;
  actionTimeoutMs: number;
  /** A prepare may download images. */
  prepareTimeoutMs: number;
  migrateTimeoutMs: number;
  /** The spec as the target must see it (capability URLs bound to the target: DeployHook.retarget). */
  retarget?: (vm: VmRecord, target: string, spec: VmSpec) => Promise<VmSpec>;
  /** Migrations an evacuation runs at once. */
  parallel: number;
  /** Attached volumes: exports opened to the target before the move, narrowed after (VolumeService). */
  volumes?: {
    beginMove(vmId: string, target: string, placements: VolumePlacement[]): Promise<MigratingVolume[]>;
    endMove(vmId: string, movedTo?: string): Promise<void>;
  };
}

export class NoTargetError extends StratusError {
  constructor(vm: string, reason: string) {
    super('STRATUS_ERR_NO_TARGET', `no host can take VM ${vm}: ${reason}`, { status: 409, details: { vm, reason } });
  }
}

/** How long a migration whose outcome is in doubt is asked about before it is left to reconciliation. */
const SETTLE_WINDOW_MS = 180_000;
const SETTLE_RETRY_MS = 2_000;

export class VmMigrator {
  constructor(private readonly o: MigratorOptions) {}

  /**
   * Sends `command` until a host answers it (a fresh key each time: a refusal such as "the move is still
   * running" is a definitive answer to its key), every 2 s for at most 3 minutes; undefined if none came.
   */
  private async askUntilAnswered<K extends AgentCommand>(
    host: string,
    command: K,
    args: CommandArgs<K>,
    keyBase: string,
  ): Promise<CommandResult<K> | undefined> {
    const end = Date.now() + SETTLE_WINDOW_MS;
    for (let n = 0; ; n++) {
      try {
        return await this.dispatch(host, command, args, `${keyBase}:${n}`, this.o.actionTimeoutMs);
      } catch (err) {
        if (Date.now() > end) return undefined;
        this.o.log.info({ host, command, err: asStratusError(err).message }, 'no answer yet: asking again');
        await new Promise((r) => setTimeout(r, SETTLE_RETRY_MS));
      }
    }
  }

  /**
   * After a failed perform: whether the VM arrived on the target, as the target says ('target'), or did
   * not ('source'); 'unknown' when it could not say within the window. A target that has nothing of it
   * removes its preparation on the way.
   */
  private async whereAfterFailure(vmId: string, target: string, op: string): Promise<'source' | 'target' | 'unknown'> {
    const r = await this.askUntilAnswered(target, 'migrate.abort', { vm: vmId }, `migrate-abort:${op}`);
    return r === undefined ? 'unknown' : r.arrived ? 'target' : 'source';
  }

  /** Tells the source where the VM is after a migration in doubt there (no-op when it was not in doubt). */
  private async settleSource(vmId: string, source: string, op: string, moved: boolean): Promise<void> {
    const r = await this.askUntilAnswered(source, 'migrate.settle', { vm: vmId, moved }, `migrate-settle:${op}`);
    if (!r) this.o.log.error({ vm: vmId, source }, 'source not told where the VM is');
    else if (r.settled) this.o.log.warn({ vm: vmId, source, moved, state: r.state }, 'migration in doubt settled');
  }

  private dispatch<K extends AgentCommand>(
    host: string,
    command: K,
    args: CommandArgs<K>,
    key: string,
    timeoutMs: number,
    onProgress?: (p: { step: string; pct?: number }) => void,
  ): Promise<CommandResult<K>> {
    // a migration's commands are long: an agent restarted meanwhile is asked again, and answers from its journal
    return this.o.dispatcher.dispatch(host, command, args, {
      key,
      timeoutMs,
      resendOnReturn: true,
      ...(onProgress ? { onProgress } : {}),
    });
  }

  /** The target the scheduler picks (or accepts, when `wanted` is given) for the VM, source excluded. */
  private target(vmId: string, source: string, wanted?: string): string {
    const vm = this.o.store.get(vmId);
    // the VM's own capacity (CPU, memory, disk) is counted on its source only, which is excluded
    const hosts = this.o.scheduler.hostViews().filter((h) => !wanted || h.id === wanted);
    if (wanted && hosts.length === 0) throw new NotFoundError('host', wanted);
    if (wanted === source) throw new NoTargetError(vmId, `it already runs on ${source}`);
    const [p] = schedule(
      [
        {
          id: vm.id,
          vcpus: vm.vcpus,
          memoryMiB: vm.memoryMiB,
          cluster: vm.placement.cluster,
          requiredFeatures: vm.placement.requiredFeatures,
          antiAffinityGroup: vm.placement.antiAffinityGroup,
          diskBytes: this.o.scheduler.diskBytesOf(vm),
          excludeHosts: new Set([source]),
        },
      ],
      hosts,
      this.o.policy(),
    );
    if (!p?.hostId) throw new NoTargetError(vmId, p && 'reason' in p ? p.reason : 'no host');
    return p.hostId;
  }

  /** Stops the running migration of `vmId` on its source host; the VM stays there, the target is cleaned. */
  async cancel(vmId: string): Promise<{ vm: string; cancelled: boolean }> {
    const vm = this.o.store.get(vmId);
    if (!this.o.moving.has(vmId) || !vm.hostId) throw new ConflictError(`VM ${vmId} is not being migrated`);
    const r = await this.dispatch(
      vm.hostId,
      'migrate.cancel',
      { vm: vmId },
      `migrate-cancel:${vmId}:${Date.now()}`,
      this.o.actionTimeoutMs,
    );
    this.o.log.info({ vm: vmId, host: vm.hostId, cancelled: r.cancelled }, 'migration cancel requested');
    return { vm: vmId, cancelled: r.cancelled };
  }

  async migrate(
    vmId: string,
    wanted?: string,
    by = 'admin',
    opts: { bandwidthMiBs?: number | undefined } = {},
  ): Promise<MigrationView> {
    const vm = this.o.store.get(vmId);
    if (vm.state !== 'running' && vm.state !== 'stopped')
      throw new ConflictError(`VM ${vmId} is ${vm.state}; only running or stopped VMs can be migrated`);
    const source = vm.hostId;
    if (!source || !this.o.fleet.host(source)?.up)
      throw new ConflictError(`the host of VM ${vmId} (${source ?? 'none'}) is not up`);
    if (this.o.moving.has(vmId)) throw new ConflictError(`VM ${vmId} is already being migrated`);
    const target = this.target(vmId, source, wanted);
    const log = this.o.log.child({ vm: vmId, source, target });
    const op = `${vmId}:${Date.now()}`;
    const t = this.o.actionTimeoutMs;
    this.o.moving.add(vmId);
    const reason = (s: string) => this.o.store.setReason(vmId, s);
    // wall time of each step, for the admin and the benchmark (where a move spends its time)
    const stepsMs: Record<'check' | 'prepare' | 'perform' | 'finish', number> = {
      check: 0,
      prepare: 0,
      perform: 0,
      finish: 0,
    };
    let mark = performance.now();
    const lap = (step: keyof typeof stepsMs) => {
      const now = performance.now();
      stepsMs[step] = Math.round(now - mark);
      mark = now;
    };
    try {
      const chk = await this.dispatch(source, 'migrate.check', { vm: vmId }, `migrate-check:${op}`, t);
      lap('check');
      if (chk.refusal)
        throw new StratusError('STRATUS_ERR_MIGRATION_REFUSED', `VM ${vmId} cannot be migrated: ${chk.refusal}`, {
          status: 409,
          details: { vm: vmId, reason: chk.refusal },
        });
      const live = ['running', 'paused', 'blocked'].includes(chk.state);
      reason(`migrating to ${target}: preparing the target`);
      log.info({ live, by, volumes: chk.volumes?.length ?? 0 }, 'migration starting');
      const placements = chk.volumes ?? [];
      if (placements.length > 0 && !this.o.volumes)
        throw new ConflictError(`VM ${vmId} has attached volumes and this controller manages none`);
      // the volumes' exports name the target too from here until the move ends, either way
      const volumes = placements.length > 0 ? await this.o.volumes!.beginMove(vmId, target, placements) : [];
      let res: CommandResult<'migrate.perform'>;
      let prep: CommandResult<'migrate.prepare'>;
      try {
        prep = await this.dispatch(
          target,
          'migrate.prepare',
          {
            spec: this.o.retarget ? await this.o.retarget(vm, target, chk.spec) : chk.spec,
            source,
            live,
            ...(volumes.length > 0 ? { volumes } : {}),
          },
          `migrate-prepare:${op}`,
          this.o.prepareTimeoutMs,
        );
        lap('prepare');
      } catch (err) {
        // a preparation that failed undid itself; one whose answer was lost is removed here
        await this.dispatch(target, 'migrate.abort', { vm: vmId }, `migrate-abort:${op}`, t).catch((e) =>
          log.warn({ err: (e as Error).message }, 'could not abort the preparation on the target'),
        );
        if (volumes.length > 0) await this.o.volumes!.endMove(vmId);
        reason(`migration to ${target} failed: ${asStratusError(err).message}`);
        throw err;
      }
      try {
        res = await this.dispatch(
          source,
          'migrate.perform',
          {
            vm: vmId,
            target: { host: target, ...prep },
            ...(opts.bandwidthMiBs ? { bandwidthMiBs: opts.bandwidthMiBs } : {}),
          },
          `migrate-perform:${op}`,
          this.o.migrateTimeoutMs,
          (p) => reason(`migrating to ${target}: ${p.step}${p.pct !== undefined ? ` ${Math.round(p.pct)}%` : ''}`),
        );
        lap('perform');
      } catch (err) {
        const e = asStratusError(err);
        const definite = e.code === 'STRATUS_ERR_MIGRATION_FAILED' || e.code === 'STRATUS_ERR_MIGRATION_REFUSED';
        if (!definite) reason(`migrating to ${target}: interrupted (${e.message}); asking where the VM is`);
        // the target says whether it has the VM; if not, its preparation goes
        const where = await this.whereAfterFailure(vmId, target, op);
        if (!definite && where !== 'unknown') await this.settleSource(vmId, source, op, where === 'target');
        // a definite failure keeps the VM on the source (libvirt's guarantee): a copy on the target is the
        // second one, which the reconciliation removes
        if (where === 'target' && !definite) {
          log.warn({ err: e.message }, 'the migration reported a failure, but the VM arrived on the target');
          res = { vm: vmId, target, live, durationMs: 0 };
        } else {
          if (where === 'unknown') log.error({ err: e.message }, 'migration outcome unknown; left to reconciliation');
          if (volumes.length > 0) await this.o.volumes!.endMove(vmId);
          reason(
            where === 'unknown'
              ? `migration to ${target} interrupted, outcome not yet known (${e.message}); the hosts settle it`
              : `migration to ${target} failed: ${e.message}`,
          );
          throw err;
        }
      }
      const desired = live ? 'running' : 'stopped';
      // the domain left the source (libvirt undefined it there): from now on the VM is on the target,
      // confirmed or not, so that the source's inventory without it never makes it `lost`
      this.o.store.transition(vmId, vm.state, `moved to ${target}; the target is taking it over`, { hostId: target });
      if (volumes.length > 0) await this.o.volumes!.endMove(vmId, target);
      let fin: CommandResult<'migrate.finish'>;
      try {
        fin = await this.dispatch(target, 'migrate.finish', { vm: vmId, desired }, `migrate-finish:${op}`, t);
        lap('finish');
      } catch (err) {
        const msg = asStratusError(err).message;
        reason(`moved to ${target}, not yet confirmed by its agent (${msg}); its agent settles it when it is back`);
        throw new StratusError(
          'STRATUS_ERR_MIGRATION_UNCONFIRMED',
          `VM ${vmId} moved to ${target}, but the target's agent did not confirm it: ${msg}; it settles it when it is back`,
          { status: 502, details: { vm: vmId, from: source, to: target } },
        );
      }
      this.o.store.transition(vmId, desired, `migrated from ${source} to ${target} by ${by}`, { hostId: target });
      log.info({ durationMs: res.durationMs, downtimeMs: fin.downtimeMs, stepsMs }, 'VM migrated');
      return {
        vm: vmId,
        from: source,
        to: target,
        live,
        durationMs: Math.round(res.durationMs),
        ...(fin.downtimeMs !== undefined ? { downtimeMs: fin.downtimeMs } : {}),
        stepsMs,
      };
    } finally {
      this.o.moving.delete(vmId);
      this.o.scheduler.kick();
    }
  }

  /** Disables `host`, then migrates every VM off it, `parallel` at a time; lists those that could not move. */
  async evacuate(host: string, by = 'admin'): Promise<EvacuationView> {
    if (!this.o.fleet.host(host)) throw new NotFoundError('host', host);
    this.o.hostAdmin.set(host, { enabled: false, reason: `evacuated by ${by}` });
    const vms = this.o.store.list({ hostId: host, states: ['running', 'stopped'] });
    const moved: MigrationView[] = [];
    const failed: EvacuationView['failed'] = [];
    const queue = [...vms];
    const worker = async () => {
      for (let vm = queue.shift(); vm; vm = queue.shift()) {
        try {
          moved.push(await this.migrate(vm.id, undefined, by));
        } catch (err) {
          failed.push({ vm: vm.id, name: vm.name, reason: asStratusError(err).message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.o.parallel, vms.length)) }, worker));
    for (const vm of this.o.store.list({ hostId: host })) {
      if (['scheduled', 'deploying', 'unknown'].includes(vm.state) && !failed.some((f) => f.vm === vm.id))
        failed.push({ vm: vm.id, name: vm.name, reason: `it is ${vm.state}` });
    }
    this.o.log.info({ host, moved: moved.length, failed: failed.length }, 'host evacuated');
    return { host, moved, failed, disabled: true };
  }
}
