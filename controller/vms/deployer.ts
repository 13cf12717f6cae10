// Deploys a scheduled VM on its host: builds the spec (plus deploy hooks), sends the `deploy` command
// with an idempotency key per attempt, and follows progress. A failed attempt releases what the hooks
// reserved and sends the VM back to the scheduler, excluding that host, for a bounded number of
// attempts; then the VM fails with the reasons. A controller restarted mid-deploy resends the same
// key, so the agent replays the outcome instead of deploying twice.

import type { Logger } from 'pino';
import { asStratusError } from '../../common/errors.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import type { CommandDispatcher } from '../mqtt/command-dispatcher.ts';
import type { DeployHook } from './deploy-hook.ts';
import type { SpecBuilder } from './spec-builder.ts';
import type { VmStore } from './store.ts';

export interface DeployerOptions {
  store: VmStore;
  specs: SpecBuilder;
  dispatcher: CommandDispatcher;
  hooks: DeployHook[];
  log: Logger;
  maxAttempts: number;
  deployTimeoutMs: number;
  /** Called when a VM goes back to pending (the scheduler should run). */
  onRequeue: () => void;
  /** Whether the host has reported online since the controller started. */
  hostUp: (host: string) => boolean;
}

/** Maps the agent's libvirt state to the controller's VM state. */
export function controllerState(libvirtState: string): 'running' | 'stopped' | undefined {
  if (['running', 'paused', 'blocked', 'pmsuspended'].includes(libvirtState)) return 'running';
  if (['shutoff', 'shutdown', 'crashed'].includes(libvirtState)) return 'stopped';
  return undefined;
}

export class Deployer {
  private readonly inFlight = new Set<string>();

  constructor(private readonly o: DeployerOptions) {}

  isDeploying(id: string): boolean {
    return this.inFlight.has(id);
  }

  /** Deploys (or, after a restart, resumes deploying) one VM; never throws. */
  async deploy(id: string): Promise<void> {
    if (this.inFlight.has(id)) return;
    this.inFlight.add(id);
    try {
      await this.run(id);
    } finally {
      this.inFlight.delete(id);
    }
  }

  private async run(id: string): Promise<void> {
    let vm = this.o.store.get(id);
    const host = vm.hostId;
    if (!host || (vm.state !== 'scheduled' && vm.state !== 'deploying')) return;
    // a deploy already sent (the controller restarted, or the host went away) may have run on the
    // host: it is resent there with the same key once the host is back, never moved elsewhere
    const resuming = vm.state === 'deploying';
    if (resuming && !this.o.hostUp(host)) {
      this.o.store.setReason(id, `waiting for host ${host} to report before resuming the deploy`);
      return;
    }
    const attempt = vm.state === 'scheduled' ? vm.attempts + 1 : vm.attempts;
    const log = this.o.log.child({ vm: id, host, attempt });
    if (vm.state === 'scheduled')
      vm = this.o.store.transition(id, 'deploying', `deploying on ${host}`, { attempts: attempt });
    const prepared: DeployHook[] = [];
    try {
      let spec: VmSpec = this.o.specs.build(vm, host);
      let extra: Record<string, unknown> = {};
      for (const hook of this.o.hooks) {
        spec = await hook.prepare(vm, host, spec);
        prepared.push(hook);
        if (hook.deployArgs) extra = { ...extra, ...(await hook.deployArgs(vm, host)) };
      }
      const result = await this.o.dispatcher.dispatch(
        host,
        'deploy',
        { spec, start: true, ...extra },
        {
          key: `deploy:${id}:${attempt}`,
          timeoutMs: this.o.deployTimeoutMs,
          onProgress: (p) => {
            const now = this.o.store.find(id);
            if (now?.state === 'deploying')
              this.o.store.setReason(
                id,
                `deploying on ${host}: ${p.step}${p.pct !== undefined ? ` ${Math.round(p.pct)}%` : ''}`,
              );
          },
        },
      );
      const current = this.o.store.get(id);
      if (current.state !== 'deploying') return; // deleted meanwhile: the delete path cleans up
      for (const hook of this.o.hooks) await hook.deployed?.(current, (result ?? {}) as Record<string, unknown>);
      const to = controllerState(result?.state ?? 'running') ?? 'running';
      this.o.store.transition(id, to, `deployed on ${host}`);
      log.info({ state: to }, 'VM deployed');
    } catch (err) {
      const e = asStratusError(err);
      const current = this.o.store.find(id);
      if (current?.state === 'deploying' && resuming && e.code === 'STRATUS_ERR_HOST_UNAVAILABLE') {
        // the host went away again before the command could be resent: keep waiting for it
        this.o.store.setReason(id, `waiting for host ${host} to report before resuming the deploy`);
        return;
      }
      for (const hook of prepared.reverse()) await Promise.resolve(hook.release?.(vm)).catch(() => undefined);
      if (current?.state !== 'deploying') return;
      const excluded = [...new Set([...current.excludedHosts, host])];
      const why = `deploy on ${host} failed: ${e.message}`;
      log.warn({ code: e.code, err: e.message }, 'deploy attempt failed');
      if (attempt < this.o.maxAttempts) {
        this.o.store.transition(id, 'pending', `${why}; retrying on another host`, {
          hostId: null,
          excludedHosts: excluded,
        });
        this.o.onRequeue();
      } else {
        this.o.store.transition(id, 'failed', `${why} (attempt ${attempt} of ${this.o.maxAttempts})`, {
          excludedHosts: excluded,
        });
      }
    }
  }
}
