// Typed errors of the agent's VM operations, each with a stable code and what the user needs to act.

import { ConflictError, NotFoundError, StratusError } from '../common/errors.ts';

export class VmNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('VM', id);
  }
}

export class VmExistsError extends ConflictError {
  constructor(id: string, where: 'agent' | 'libvirt') {
    super(
      where === 'agent'
        ? `VM ${id} already exists on this host`
        : `a libvirt domain with UUID ${id} or name stratus-${id} already exists on this host`,
      { id, where },
    );
  }
}

/** A file the spec names (kernel, initrd, disk, CD-ROM) is missing or unreadable on this host. */
export class HostFileMissingError extends StratusError {
  constructor(role: string, path: string, host: string) {
    super('STRATUS_ERR_HOST_FILE_MISSING', `${role} file ${path} does not exist or is not readable on host ${host}`, {
      status: 422,
      details: { role, path, host },
    });
  }
}

export class BridgeNotFoundError extends StratusError {
  constructor(bridge: string, host: string) {
    super('STRATUS_ERR_BRIDGE_NOT_FOUND', `bridge ${bridge} does not exist on host ${host}`, {
      status: 422,
      details: { bridge, host },
    });
  }
}

export class VmBusyError extends ConflictError {
  constructor(id: string, state: string, action: string) {
    super(`cannot ${action} VM ${id} while it is ${state}`, { id, state, action });
  }
}

/** A VM has an operation that a crash interrupted and recovery has not settled yet: retry later. */
export class OperationPendingError extends StratusError {
  constructor(id: string, kind: string) {
    super('STRATUS_ERR_OPERATION_PENDING', `VM ${id} has an interrupted ${kind} that the agent is still settling`, {
      status: 503,
      details: { id, kind },
    });
  }
}

/** The agent is stopping: the command was not run (it stays with the broker for redelivery). */
export class AgentStoppingError extends StratusError {
  constructor() {
    super('STRATUS_ERR_AGENT_STOPPING', 'the agent is stopping; the command was not run', { status: 503 });
  }
}

/**
 * A create that failed and could not be undone completely (libvirt went away under it): what is left on
 * this host is not settled until recovery has undone it, so the caller must not place the VM elsewhere
 * yet. Transient (503, never recorded): the same key again gets the real outcome once recovery is done.
 */
export class CreateUnsettledError extends StratusError {
  constructor(id: string, cause: string) {
    super(
      'STRATUS_ERR_AGENT_OUTCOME_UNKNOWN',
      `creating VM ${id} failed (${cause}) and its undo is not finished on this host; retry with the same key`,
      { status: 503, details: { id, transient: true } },
    );
  }
}
