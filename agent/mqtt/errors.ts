// Typed errors of MQTT commands on the agent, each with a stable code that the controller's dispatch
// turns back into a StratusError.

import { StratusError } from '../../common/errors.ts';

export class UnknownCommandError extends StratusError {
  constructor(name: string, known: string[]) {
    super('STRATUS_ERR_UNKNOWN_COMMAND', `this agent has no command "${name}" (known: ${known.join(', ')})`, {
      status: 404,
      details: { command: name, known },
    });
  }
}

export class DeadlineExceededError extends StratusError {
  constructor(command: string, deadline: number, at = Date.now()) {
    super(
      'STRATUS_ERR_DEADLINE_EXCEEDED',
      `command ${command} reached the host ${at - deadline} ms after its deadline; it was not run`,
      { status: 504, details: { command, deadline: new Date(deadline).toISOString(), lateMs: at - deadline } },
    );
  }
}

export class CommandInterruptedError extends StratusError {
  constructor(command: string, key: string) {
    super(
      'STRATUS_ERR_COMMAND_INTERRUPTED',
      `command ${command} (key ${key}) was running when the agent stopped and is still being settled by recovery; retry with the same key`,
      { status: 503, details: { command, key, transient: true } },
    );
  }
}

export class IdempotencyConflictError extends StratusError {
  constructor(key: string, recorded: string, got: string) {
    super('STRATUS_ERR_IDEMPOTENCY_CONFLICT', `idempotency key ${key} was used for ${recorded}, not ${got}`, {
      status: 409,
      details: { key, recorded, got },
    });
  }
}
