// Commands received over MQTT: a registry typed by the command catalogue (`register(name, handler)`:
// the schema comes from protocol/mqtt/command-catalogue.ts) and the executor, which runs each idempotency key at most once (agent database), answers
// repeats with the recorded outcome, refuses commands past their deadline, and replies with the
// result or a typed error; handlers report progress through their context.
// Only definitive outcomes are recorded under a key: a transient failure (libvirt disconnected, the
// agent stopping, an operation still being recovered, a deadline) is answered but forgotten, so that
// a retry runs. A key found running after a restart is answered from the operation journal (the
// `interrupted` hook), never with "effect unknown". A stopping executor declines new commands: they
// stay unacknowledged with the broker and are redelivered to the next session.

import type { Static, TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { asStratusError } from '../../common/errors.ts';
import { validate } from '../../common/validate.ts';
import {
  Command,
  type CommandCatalogue,
  type CommandDef,
  type CommandReply,
  commandCatalogue,
  decode,
  MalformedMessageError,
} from '../../protocol/mqtt/index.ts';
import { LibvirtError } from '../../drivers/libvirt/index.ts';
import type { CommandRecord, CommandStore, Outcome } from './command-store.ts';
import { redactSecrets } from '../../common/redact.ts';
import {
  CommandInterruptedError,
  DeadlineExceededError,
  IdempotencyConflictError,
  UnknownCommandError,
} from './errors.ts';

export interface CommandContext {
  id: string;
  key: string;
  /** Milliseconds since the epoch; `signal` aborts when it passes. */
  deadline: number;
  signal: AbortSignal;
  log: Logger;
  /** Sends a progress reply (QoS 1, in order with the result). */
  progress(step: string, pct?: number): void;
}

/** The handler of command K of catalogue C: the catalogue's argument type in, its result type out. */
export type CommandHandler<C extends Record<string, CommandDef>, K extends keyof C> = (
  args: Static<C[K]['args']>,
  ctx: CommandContext,
) => Promise<Static<C[K]['result']>>;
type AnyHandler = (args: unknown, ctx: CommandContext) => Promise<unknown>;

type ReplyBody = Omit<CommandReply, 'v' | 'ts' | 'host' | 'session' | 'seq'>;

/** What the executor needs of a registry: a handler and its argument schema by name. */
export interface CommandLookup {
  get(name: string): { schema: TSchema; handler: AnyHandler } | undefined;
  readonly names: string[];
}

/** Handlers by command name (typed by the catalogue; tests may bring a catalogue of their own). */
export class CommandRegistry<C extends Record<string, CommandDef> = CommandCatalogue> implements CommandLookup {
  private readonly handlers = new Map<string, { schema: TSchema; handler: AnyHandler }>();

  constructor(private readonly catalogue: C = commandCatalogue as unknown as C) {}

  /** Registers the handler of a catalogue command; its arguments are validated with the catalogue's schema. */
  register<K extends keyof C & string>(name: K, handler: CommandHandler<C, K>): void {
    const def = Object.hasOwn(this.catalogue, name) ? this.catalogue[name] : undefined;
    if (!def) throw new Error(`command ${name} is not in the command catalogue`);
    if (this.handlers.has(name)) throw new Error(`command ${name} is already registered`);
    this.handlers.set(name, { schema: def.args, handler: handler as AnyHandler });
  }

  /** Registers one handler for every command of the catalogue. */
  registerAll(handlers: { [K in keyof C & string]: CommandHandler<C, K> }): void {
    for (const name of Object.keys(this.catalogue) as (keyof C & string)[]) this.register(name, handlers[name]);
  }

  get(name: string) {
    return this.handlers.get(name);
  }

  get names(): string[] {
    return [...this.handlers.keys()].sort();
  }
}

export interface ExecutorOptions {
  registry: CommandLookup;
  store: CommandStore;
  log: Logger;
  /** Sends a reply (the link adds the envelope and queues it in order). */
  reply: (id: string, body: ReplyBody) => void;
  /** Records an audit event. */
  event: (kind: string, severity: 'info' | 'warning' | 'error', message: string, data: object) => void;
  maxPayloadBytes: number;
  /**
   * What a key found running from an earlier process really did (from the operation journal): an
   * outcome to record and send, 'rerun' when nothing of it remains (it runs again), or 'pending' while
   * recovery has not settled it (answered 503, not recorded).
   */
  interrupted?: (cmd: Command, prior: CommandRecord) => Outcome | 'rerun' | 'pending';
}

const TRANSIENT_CODES = new Set([
  'STRATUS_ERR_COMMAND_INTERRUPTED',
  'STRATUS_ERR_LIBVIRT_DISCONNECTED',
  'STRATUS_ERR_AGENT_STOPPING',
  'STRATUS_ERR_OPERATION_PENDING',
  'STRATUS_ERR_NOT_READY',
  'STRATUS_ERR_DEADLINE_EXCEEDED',
]);

/** Whether an error may go away by itself (retry later) rather than being the command's answer. */
export function isTransient(err: unknown): boolean {
  if (err instanceof LibvirtError && err.connectionLost) return true;
  const e = asStratusError(err);
  return TRANSIENT_CODES.has(e.code) || e.status === 503 || e.details['transient'] === true;
}

function transientRecorded(outcome: Outcome): boolean {
  return !outcome.ok && !!outcome.error && (TRANSIENT_CODES.has(outcome.error.code) || outcome.error.status === 503);
}

export class CommandExecutor {
  private readonly running = new Set<string>();
  /** Deliveries of a key that arrived while it ran (a restarted controller resends with a new id): each gets the outcome. */
  private readonly waiting = new Map<string, Command[]>();
  private stopping = false;
  dropped = 0;
  executed = 0;

  constructor(private readonly o: ExecutorOptions) {}

  /** Takes no new command from now on (they stay with the broker); the running ones finish. */
  stop(): void {
    this.stopping = true;
  }

  /** Waits (bounded) for the commands in progress to finish and send their result. */
  async drain(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.running.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  }

  /**
   * Handles one command message; never throws (bad messages are logged and dropped). Returns false
   * when the executor is stopping: the message is declined and must not be acknowledged.
   */
  handle(topicName: string, payload: Buffer): boolean {
    if (this.stopping) {
      this.o.log.info({ command: topicName }, 'agent stopping: command left with the broker for redelivery');
      return false;
    }
    let cmd: Command;
    try {
      cmd = decode(Command, payload, this.o.maxPayloadBytes);
      if (cmd.command !== topicName) {
        throw new MalformedMessageError('bad-topic', `command "${cmd.command}" sent on the topic of "${topicName}"`);
      }
    } catch (err) {
      this.dropped++;
      const e = asStratusError(err);
      this.o.log.warn({ reason: e.details['reason'], err: e.message, bytes: payload.length }, 'command dropped');
      return true;
    }
    void this.execute(cmd);
    return true;
  }

  private send(cmd: Command, outcome: Outcome, replayed = false): void {
    this.o.reply(cmd.id, {
      id: cmd.id,
      key: cmd.key,
      command: cmd.command,
      type: 'result',
      ...outcome,
      ...(replayed ? { replayed: true } : {}),
    });
  }

  private async execute(cmd: Command): Promise<void> {
    const { store, log: baseLog } = this.o;
    const log = baseLog.child({ command: cmd.command, cmdId: cmd.id, key: cmd.key });
    let prior = store.get(cmd.key);
    if (prior?.state === 'done' && prior.outcome && transientRecorded(prior.outcome)) {
      // recorded by an older agent: a transient failure is no answer; run the command again
      log.info({ code: prior.outcome.error?.code }, 'recorded outcome was a transient failure; running again');
      store.forget(cmd.key);
      prior = undefined;
    }
    if (prior && prior.state === 'running' && !this.running.has(cmd.key) && prior.command === cmd.command) {
      // the key was running when an earlier agent process ended: the journal says what it did
      const found = this.o.interrupted?.(cmd, prior) ?? 'rerun';
      if (found === 'pending') {
        this.send(cmd, { ok: false, error: new CommandInterruptedError(cmd.command, cmd.key).toJSON() });
        return;
      }
      if (found === 'rerun') {
        log.info('interrupted command left nothing behind; running it again');
        store.forget(cmd.key);
        prior = undefined;
      } else {
        log.info({ ok: found.ok }, 'interrupted command: outcome recovered from the journal');
        const outcome = redactSecrets(found);
        store.finish(cmd.key, outcome);
        this.send(cmd, outcome);
        return;
      }
    }
    if (prior) {
      if (prior.command !== cmd.command) {
        this.send(cmd, {
          ok: false,
          error: new IdempotencyConflictError(cmd.key, prior.command, cmd.command).toJSON(),
        });
      } else if (prior.state === 'done') {
        log.info('repeated command: replaying the recorded outcome');
        this.send(cmd, prior.outcome!, true);
      } else if (this.running.has(cmd.key)) {
        log.info('repeated command: already running; its outcome will be sent to this delivery too');
        if (cmd.id !== prior.id) this.waiting.set(cmd.key, [...(this.waiting.get(cmd.key) ?? []), cmd]);
        this.o.reply(cmd.id, {
          id: cmd.id,
          key: cmd.key,
          command: cmd.command,
          type: 'progress',
          progress: { step: 'already running' },
        });
      }
      return;
    }
    const refuse = (err: Error) => {
      const outcome = { ok: false, error: asStratusError(err).toJSON() };
      if (!isTransient(err)) store.refuse(cmd.key, cmd.id, cmd.command, outcome);
      log.warn({ code: outcome.error.code }, outcome.error.message);
      this.send(cmd, outcome);
    };
    if (Date.now() > cmd.deadline) return refuse(new DeadlineExceededError(cmd.command, cmd.deadline));
    const entry = this.o.registry.get(cmd.command);
    if (!entry) return refuse(new UnknownCommandError(cmd.command, this.o.registry.names));
    let args: unknown;
    try {
      args = validate(entry.schema, cmd.args ?? {}, `arguments of ${cmd.command}`);
    } catch (err) {
      return refuse(err as Error);
    }
    if (!store.begin(cmd.key, cmd.id, cmd.command)) return; // a concurrent delivery won the race
    this.running.add(cmd.key);
    const ctrl = new AbortController();
    const timer = setTimeout(
      () => ctrl.abort(new DeadlineExceededError(cmd.command, cmd.deadline)),
      cmd.deadline - Date.now(),
    );
    const ctx: CommandContext = {
      id: cmd.id,
      key: cmd.key,
      deadline: cmd.deadline,
      signal: ctrl.signal,
      log,
      progress: (step, pct) =>
        this.o.reply(cmd.id, {
          id: cmd.id,
          key: cmd.key,
          command: cmd.command,
          type: 'progress',
          progress: pct === undefined ? { step } : { step, pct },
        }),
    };
    let outcome: Outcome;
    let transient = false;
    try {
      // replies and events never carry capability URLs or secrets (a deploy's spec has both)
      const result = await entry.handler(args, ctx);
      outcome = { ok: true, result: redactSecrets(result ?? null) };
    } catch (err) {
      transient = isTransient(err) || (this.stopping && !(err instanceof IdempotencyConflictError));
      const error = redactSecrets(asStratusError(err).toJSON());
      outcome = { ok: false, error: transient ? { ...error, details: { ...error.details, transient: true } } : error };
    } finally {
      clearTimeout(timer);
      this.running.delete(cmd.key);
    }
    this.executed++;
    // a transient failure is answered, not recorded: a retry with the same key runs again
    if (transient) store.forget(cmd.key);
    else store.finish(cmd.key, outcome);
    this.send(cmd, outcome);
    for (const repeat of this.waiting.get(cmd.key) ?? []) this.send(repeat, outcome, true);
    this.waiting.delete(cmd.key);
    if (outcome.ok) log.info('command done');
    else log.warn({ code: outcome.error?.code, err: outcome.error?.message }, 'command failed');
    this.o.event(
      outcome.ok ? 'command.done' : 'command.failed',
      outcome.ok ? 'info' : 'warning',
      `${cmd.command} ${outcome.ok ? 'done' : `failed: ${outcome.error?.message}`}`,
      { command: cmd.command, id: cmd.id, key: cmd.key, ...(outcome.error ? { code: outcome.error.code } : {}) },
    );
  }
}
