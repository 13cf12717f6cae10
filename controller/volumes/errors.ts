// Typed errors of the volume service, each with a stable code, an HTTP status and what the user needs
// to act: which VM holds a volume, which quota is exhausted, what state blocks an operation.

import { ConflictError, NotFoundError, StratusError } from '../../common/errors.ts';

export class VolumeNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('volume', id);
  }
}

/** An exclusive volume already attached (or being attached) elsewhere. */
export class VolumeInUseError extends StratusError {
  constructor(id: string, vmIds: string[], action: 'attach' | 'delete') {
    super(
      'STRATUS_ERR_VOLUME_IN_USE',
      action === 'attach'
        ? `volume ${id} is not shareable and is attached to VM ${vmIds.join(', ')}; detach it first`
        : `volume ${id} is attached to VM ${vmIds.join(', ')}; detach it before deleting it`,
      { status: 409, details: { id, vmIds, action } },
    );
  }
}

export class VolumeStateError extends ConflictError {
  constructor(id: string, state: string, action: string, reason = '') {
    super(`cannot ${action} volume ${id} while it is ${state}${reason ? ` (${reason})` : ''}`, {
      id,
      state,
      action,
      ...(reason ? { reason } : {}),
    });
  }
}

export class VolumeNameTakenError extends ConflictError {
  constructor(name: string) {
    super(`you already have a volume named ${name}`, { name });
  }
}

export class VolumeQuotaExceededError extends StratusError {
  constructor(what: 'volumes' | 'gib', used: number, asked: number, limit: number) {
    const unit = what === 'gib' ? 'GiB of volumes' : 'volumes';
    super('STRATUS_ERR_QUOTA', `quota exceeded: ${used} ${unit} in use + ${asked} asked > ${limit} allowed`, {
      status: 403,
      details: { what: what === 'gib' ? 'volumeGiB' : 'volumes', used, asked, limit },
    });
  }
}

export class VolumeRequestError extends StratusError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('STRATUS_ERR_VOLUME_REQUEST', message, { status: 422, details });
  }
}

export class VmNotPlacedError extends ConflictError {
  constructor(vmId: string, state: string) {
    super(`VM ${vmId} is ${state} and runs on no host yet; attach the volume once it is placed`, { vmId, state });
  }
}

/**
 * Thrown by a VolumeHosts adapter when the agent may or may not have done what was asked (timeout, lost
 * connection): the volume then goes to `error` with the reason, instead of being rolled back blindly.
 */
export class AgentOutcomeUnknownError extends StratusError {
  constructor(hostId: string, what: string, cause?: unknown) {
    super('STRATUS_ERR_AGENT_OUTCOME_UNKNOWN', `no answer from host ${hostId} to ${what}; the outcome is unknown`, {
      status: 504,
      details: { hostId, what },
      cause,
    });
  }
}

/** The backing store cannot hold a volume of that size (a file larger than the filesystem allows). */
export class VolumeTooLargeError extends StratusError {
  constructor(sizeGiB: number, cause: string) {
    super('STRATUS_ERR_VOLUME_TOO_LARGE', `a ${sizeGiB} GiB volume does not fit the backing store: ${cause}`, {
      status: 422,
      details: { sizeGiB },
    });
  }
}

/** Runs `make`; a backing store that refuses the size (too large for the filesystem, out of space) is a 422. */
export async function withinBackingStore<T>(sizeGiB: number, make: () => Promise<T>): Promise<T> {
  try {
    return await make();
  } catch (err) {
    const m = (err as Error).message;
    if (/File too large|No space left|size is too large|too big/i.test(m)) throw new VolumeTooLargeError(sizeGiB, m);
    throw err;
  }
}
