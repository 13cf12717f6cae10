// Commands to one agent, as the rest of the controller needs them: `dispatch(host, command, args, opts)`,
// typed by the command catalogue (protocol/mqtt/command-catalogue.ts). AgentClient (agent-client.ts)
// implements it over MQTT request/reply; tests may bring a small stand-in.

import type { AgentCommand, CommandArgs, CommandResult } from '../../protocol/mqtt/index.ts';

export interface DispatchOptions {
  /** Idempotency key (alias `idempotencyKey`): the agent runs a key once and replays its outcome. Default: random. */
  key?: string;
  idempotencyKey?: string;
  /** Absolute deadline (ms since the epoch or a Date); the agent does not start the command after it. */
  deadline?: number | Date;
  /** Relative deadline when `deadline` is not given; default 60 s. */
  timeoutMs?: number;
  onProgress?: (p: { step: string; pct?: number }) => void;
  /** Fail at once when the host is not online (default true); false lets the broker hold the command. */
  requireOnline?: boolean;
  /**
   * Sent again, with the same id and key, when the host's agent comes back with a new session (it was
   * restarted while the command ran): it then answers from its command store and operation journal, the
   * real outcome, instead of the caller waiting for a reply the dead process never sends. For long
   * commands (a migration).
   */
  resendOnReturn?: boolean;
}

export interface CommandDispatcher {
  /** Resolves with the command's result; rejects with a StratusError built from the agent's error. */
  dispatch<K extends AgentCommand>(
    host: string,
    command: K,
    args: CommandArgs<K>,
    opts?: DispatchOptions,
  ): Promise<CommandResult<K>>;
  /** The host's agent came back with a new session: commands marked `resendOnReturn` go again. */
  hostReturned?(host: string): void;
}
