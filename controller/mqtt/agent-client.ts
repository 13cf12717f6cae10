// Request/reply to agents over MQTT: `dispatch(host, command, args, opts)` publishes a command
// (QoS 1) with a correlation id, an idempotency key and a deadline, relays progress replies to
// `onProgress`, and resolves with the result or rejects with a StratusError carrying the agent's
// code, status and details. The scheduler and the VM service use it through the CommandDispatcher port.
//
//   const view = await agents.dispatch('hv-12', 'deploy', { spec, start: true }, {
//     key: `deploy-${spec.id}-attempt-1`,      // the same key never runs twice on the host
//     timeoutMs: 120_000,                      // or deadline: Date.now() + 120_000
//     onProgress: (p) => log.info(p, 'deploy progress'),
//   });

import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { StratusError } from '../../common/errors.ts';
import {
  type AgentCommand,
  type CommandArgs,
  type CommandReply,
  type CommandResult,
  encode,
  PROTOCOL_VERSION,
  topics,
} from '../../protocol/mqtt/index.ts';
import type { CommandDispatcher, DispatchOptions } from './command-dispatcher.ts';

export type { DispatchOptions };

export class HostUnavailableError extends StratusError {
  constructor(host: string, state: string) {
    super('STRATUS_ERR_HOST_UNAVAILABLE', `host ${host} is ${state}; commands cannot reach it`, {
      status: 503,
      details: { host, state },
    });
  }
}

export class CommandTimeoutError extends StratusError {
  constructor(host: string, command: string, key: string, deadline: number) {
    super(
      'STRATUS_ERR_DEADLINE_EXCEEDED',
      `no result from host ${host} for ${command} by its deadline; it may still complete: send it again with the same idempotency key to learn the outcome`,
      { status: 504, details: { host, command, key, deadline: new Date(deadline).toISOString() } },
    );
  }
}

/** An error the agent reported, with its code, status and details, plus where it happened. */
export class RemoteCommandError extends StratusError {
  constructor(host: string, command: string, e: NonNullable<CommandReply['error']>) {
    super(e.code, e.message, { status: e.status, details: { ...e.details, host, command } });
  }
}

interface Pending {
  host: string;
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onProgress: DispatchOptions['onProgress'];
  timer: NodeJS.Timeout;
  /** The command message, kept when it is to be sent again on the host's return. */
  resend?: { topic: string; payload: Buffer | string };
}

export interface AgentClientOptions {
  mqtt: () => MqttClient | undefined;
  /** Host state for the fail-fast check ('online', 'offline', 'down' or undefined when unknown). */
  hostState: (host: string) => string | undefined;
  log: Logger;
}

export class AgentClient implements CommandDispatcher {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly o: AgentClientOptions) {}

  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends `command` to `host` and resolves with its result (see the header for an example). */
  dispatch<K extends AgentCommand>(
    host: string,
    command: K,
    args: CommandArgs<K>,
    opts: DispatchOptions = {},
  ): Promise<CommandResult<K>> {
    const state = this.o.hostState(host);
    if ((opts.requireOnline ?? true) && state !== 'online') {
      return Promise.reject(new HostUnavailableError(host, state ?? 'unknown'));
    }
    const client = this.o.mqtt();
    if (!client) return Promise.reject(new HostUnavailableError(host, 'unreachable: the controller has no broker'));
    const id = randomUUID();
    const key = opts.idempotencyKey ?? opts.key ?? randomUUID();
    const deadline =
      opts.deadline instanceof Date
        ? opts.deadline.getTime()
        : (opts.deadline ?? Date.now() + (opts.timeoutMs ?? 60_000));
    const log = this.o.log.child({ host, command, cmdId: id, key });
    return new Promise<CommandResult<K>>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.pending.delete(id);
          log.warn('command deadline passed without a result');
          reject(new CommandTimeoutError(host, command, key, deadline));
        },
        Math.max(0, deadline - Date.now()),
      );
      this.pending.set(id, {
        host,
        command,
        resolve: resolve as (v: unknown) => void,
        reject,
        onProgress: opts.onProgress,
        timer,
      });
      const msg = { v: PROTOCOL_VERSION, ts: Date.now(), id, key, command, args: args ?? {}, deadline };
      const payload = encode(msg);
      if (opts.resendOnReturn) this.pending.get(id)!.resend = { topic: topics.command(host, command), payload };
      client.publish(topics.command(host, command), payload, { qos: 1 }, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new HostUnavailableError(host, `unreachable: ${err.message}`));
      });
      log.debug('command sent');
    });
  }

  /** Routes a reply from the ingest to its caller (replies nobody waits for are ignored). */
  handleReply(r: CommandReply): void {
    const p = this.pending.get(r.id);
    if (!p || p.host !== r.host) return;
    if (r.type === 'progress') {
      if (r.progress) p.onProgress?.(r.progress);
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(r.id);
    // when the agent sent it: how long the reply took to get here (broker, ingest)
    this.o.log.debug(
      { host: r.host, command: r.command, cmdId: r.id, inFlightMs: Date.now() - r.ts },
      'reply received',
    );
    if (r.ok) p.resolve(r.result);
    else
      p.reject(
        new RemoteCommandError(
          r.host,
          r.command,
          r.error ?? { code: 'STRATUS_ERR_INTERNAL', message: 'failed', status: 500, details: {} },
        ),
      );
  }

  /** Sends again the commands in flight to `host` that asked for it (its agent restarted meanwhile). */
  hostReturned(host: string): void {
    const client = this.o.mqtt();
    if (!client) return;
    for (const [id, p] of this.pending) {
      if (p.host !== host || !p.resend) continue;
      this.o.log.info({ host, command: p.command, cmdId: id }, 'agent back: command in flight sent again');
      client.publish(p.resend.topic, p.resend.payload, { qos: 1 });
    }
  }

  /** Rejects everything in flight (controller stopping). */
  close(): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new HostUnavailableError(p.host, 'unreachable: the controller is stopping'));
      this.pending.delete(id);
    }
  }
}
