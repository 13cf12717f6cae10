// Deploys a scheduled VM on its host: builds the spec (plus deploy hooks), sends the `deploy` command
// with an idempotency key per attempt (`deploy:<vm>:<attempt>`), and follows progress. What a failure
// means comes from the agent's typed error (outcomes.ts):
//
// - refused (the image or spec is refused): the VM fails at once with the reason;
// - the host failed and undid the deploy: what the hooks reserved is released and the VM goes back to
//   the scheduler with that host excluded for a while, for a bounded number of attempts;
// - the outcome is unknown (no answer, the agent or libvirtd restarted under it): the VM stays on that
//   host with everything it holds, and the same key is sent again: at once when the host comes back (a
//   new session), or by the reconciler's periodic pass; the host's reports settle it otherwise.
//
// A controller restarted mid-deploy resends the same key too, so the agent finishes or replays the
// outcome instead of deploying twice. A VM is never deployed on a second host while a copy may exist.

import type { Logger } from 'pino';
import { asStratusError } from '../../common/errors.ts';
import type { CommandResult } from '../../protocol/mqtt/index.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import type { CommandDispatcher } from '../mqtt/command-dispatcher.ts';
import type { DeployHook } from './deploy-hook.ts';
import { classifyDeployError } from './outcomes.ts';
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
  /** How long a host where a deploy failed is avoided for that VM. */
  hostExclusionMs: number;
  /** Called when a VM goes back to pending (the scheduler should run). */
  onRequeue: () => void;
  /** Whether the host has reported online since the controller started. */
  hostUp: (host: string) => boolean;
  /** Hosts up now (a VM refused by one host's policy fails when none other is left to try). */
  upHosts?: () => string[];
  /** A deploy's outcome is unknown: the reconciler looks at what the host reports about the VM. */
  onUnknown?: (vmId: string, host: string, code: string) => void;
}

/** Maps the agent's libvirt state to the controller's VM state. */
export function controllerState(libvirtState: string): 'running' | 'stopped' | undefined {
  if (['running', 'paused', 'blocked', 'pmsuspended'].includes(libvirtState)) return 'running';
  if (['shutoff', 'shutdown', 'crashed'].includes(libvirtState)) return 'stopped';
  return undefined;
}

const RESEND = Symbol('resend');

export class Deployer {
  private readonly inFlight = new Set<string>();
  /** Deploys waiting on a host's reply, woken when that host comes back (to resend the same key). */
  private readonly waiters = new Map<string, Set<() => void>>();
  private stopped = false;

  constructor(private readonly o: DeployerOptions) {}

  isDeploying(id: string): boolean {
    return this.inFlight.has(id);
  }

  /** The host came back (a new agent session, or up after down): deploys in flight there are resent. */
  hostReturned(host: string): void {
    const set = this.waiters.get(host);
    if (!set) return;
    this.waiters.delete(host);
    for (const wake of set) wake();
  }

  /** The controller is stopping: outcomes that arrive from now on are not written (the restart resumes). */
  stop(): void {
    this.stopped = true;
    for (const host of [...this.waiters.keys()]) this.hostReturned(host);
  }

  /** Deploys (or, after a restart, resumes deploying) one VM; never throws. */
  async deploy(id: string): Promise<void> {
    if (this.inFlight.has(id) || this.stopped) return;
    this.inFlight.add(id);
    try {
      await this.run(id);
    } catch (err) {
      this.o.log.error({ vm: id, err: (err as Error).message }, 'deploy bookkeeping failed');
    } finally {
      this.inFlight.delete(id);
    }
  }

  private returned(host: string): { promise: Promise<typeof RESEND>; cancel: () => void } {
    let wake!: () => void;
    const promise = new Promise<typeof RESEND>((r) => {
      wake = () => r(RESEND);
    });
    const set = this.waiters.get(host) ?? new Set();
    set.add(wake);
    this.waiters.set(host, set);
    return { promise, cancel: () => this.waiters.get(host)?.delete(wake) };
  }

  private async run(id: string): Promise<void> {
    let vm = this.o.store.get(id);
    const host = vm.hostId;
    if (!host || (vm.state !== 'scheduled' && vm.state !== 'deploying')) return;
    // a deploy already sent (the controller restarted, or the host went away) may have run on the
    // host: it is resent there with the same key once the host is back, never moved elsewhere
    const resuming = vm.state === 'deploying';
    if (resuming && !this.o.hostUp(host)) {
      this.o.store.setReason(id, `waiting for host ${host} to come back to finish the deploy`);
      return;
    }
    const attempt = vm.state === 'scheduled' ? vm.attempts + 1 : vm.attempts;
    const key = `deploy:${id}:${attempt}`;
    const log = this.o.log.child({ vm: id, host, attempt, key });
    if (vm.state === 'scheduled')
      vm = this.o.store.transition(id, 'deploying', `deploying on ${host}`, { attempts: attempt });
    const prepared: DeployHook[] = [];
    let sent = resuming;
    try {
      let spec: VmSpec = this.o.specs.build(vm, host);
      let extra: Record<string, unknown> = {};
      for (const hook of this.o.hooks) {
        spec = await hook.prepare(vm, host, spec);
        prepared.push(hook);
        if (hook.deployArgs) extra = { ...extra, ...(await hook.deployArgs(vm, host)) };
      }
      // deleted while the hooks prepared: the delete released before they finished (a context ISO
      // written, a lease taken after it), so what they made is released again and nothing is sent;
      // adopted meanwhile (the reconciler): the VM keeps what it holds, nothing is sent either
      const still = this.o.store.find(id);
      if (still?.state !== 'deploying' || still.hostId !== host) {
        if (!still || still.state === 'deleted') {
          log.info('VM deleted while its deploy was prepared: what the hooks made is released, nothing sent');
          for (const hook of prepared.reverse()) await Promise.resolve(hook.release?.(vm)).catch(() => undefined);
        }
        return;
      }
      let result: CommandResult<'deploy'> | undefined;
      for (;;) {
        if (this.stopped) return;
        const back = this.returned(host);
        if (this.o.hostUp(host)) sent = true;
        const reply = this.o.dispatcher.dispatch(
          host,
          'deploy',
          { spec, start: true, ...extra },
          {
            key,
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
        const got = await Promise.race([reply.then((v) => ({ v })), back.promise]).finally(back.cancel);
        if (got !== RESEND) {
          result = got.v;
          break;
        }
        reply.catch(() => undefined); // the earlier delivery's answer no longer matters
        if (this.stopped) return;
        log.info('host came back while the deploy was in flight: sending it again with the same key');
      }
      if (this.stopped) return;
      const current = this.o.store.get(id);
      if (current.state !== 'deploying' || current.hostId !== host) return; // deleted or adopted meanwhile
      for (const hook of this.o.hooks) await hook.deployed?.(current, (result ?? {}) as Record<string, unknown>);
      const to = controllerState(result?.state ?? 'running') ?? 'running';
      this.o.store.transition(id, to, `deployed on ${host}`);
      log.info({ state: to }, 'VM deployed');
    } catch (err) {
      if (this.stopped) return;
      const e = asStratusError(err);
      const current = this.o.store.find(id);
      // deleted (the delete path releases) or adopted by the reconciler meanwhile: nothing to undo here
      if (current?.state !== 'deploying' || current.hostId !== host) return;
      const kind = classifyDeployError(e, sent);
      log.warn({ code: e.code, err: e.message, outcome: kind }, 'deploy attempt did not succeed');
      if (kind === 'unknown') {
        // the host may have the VM: keep everything it holds; the same key goes again later
        this.o.store.setReason(
          id,
          `the outcome of the deploy on ${host} is not known yet (${e.message}); it is sent again there with the same key`,
        );
        this.o.onUnknown?.(id, host, e.code);
        return;
      }
      for (const hook of prepared.reverse()) await Promise.resolve(hook.release?.(vm)).catch(() => undefined);
      if (kind === 'not-sent') {
        this.o.store.transition(id, 'pending', `host ${host} went away before the deploy was sent`, { hostId: null });
        this.o.onRequeue();
        return;
      }
      const why = `deploy on ${host} failed: ${e.message}`;
      if (kind === 'refused') {
        this.o.store.transition(id, 'failed', `${why} (${e.code}; not retried on other hosts)`);
        return;
      }
      const exclusions = { ...current.exclusions, [host]: Date.now() + this.o.hostExclusionMs };
      if (kind === 'host-policy') {
        const now = Date.now();
        const others = (this.o.upHosts?.() ?? []).filter((h) => !((exclusions[h] ?? 0) > now));
        if (others.length === 0 || attempt >= this.o.maxAttempts) {
          this.o.store.transition(id, 'failed', `${why} (${e.code}; no other host to try)`, { exclusions });
          return;
        }
      }
      if (attempt < this.o.maxAttempts) {
        this.o.store.transition(id, 'pending', `${why}; retrying on another host`, { hostId: null, exclusions });
        this.o.onRequeue();
      } else {
        this.o.store.transition(id, 'failed', `${why} (attempt ${attempt} of ${this.o.maxAttempts})`, { exclusions });
      }
    }
  }

  /**
   * The host's complete report shows that the VM is not there and no deploy of it is running: the
   * unresolved attempt did not leave a copy, so a new attempt goes to the same host.
   */
  retryHere(id: string, reason: string): void {
    const vm = this.o.store.find(id);
    if (vm?.state !== 'deploying' || this.inFlight.has(id)) return;
    this.o.store.transition(id, 'deploying', reason, { attempts: vm.attempts + 1 });
    void this.deploy(id);
  }
}
