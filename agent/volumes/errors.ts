// Typed errors of the agent's volume attachments: what failed (the iSCSI login, the guest not letting
// go of a disk) and what to do about it.

import { StratusError } from '../../common/errors.ts';

export class VolumeAttachError extends StratusError {
  constructor(volumeId: string, vmId: string, reason: string, code = 'STRATUS_ERR_VOLUME_ATTACH', cause?: unknown) {
    super(code, `cannot attach volume ${volumeId} to VM ${vmId}: ${reason}`, {
      status: 502,
      details: { volumeId, vmId },
      cause,
    });
  }
}

/** Turns libvirt/QEMU's iSCSI login failures into a message a user can act on. */
export function explainAttachFailure(volumeId: string, vmId: string, err: Error, portal?: string): VolumeAttachError {
  const m = err.message;
  if (/Authentication failure|auth.*fail/i.test(m))
    return new VolumeAttachError(
      volumeId,
      vmId,
      `the iSCSI target${portal ? ` at ${portal}` : ''} refused the CHAP credentials (${m})`,
      'STRATUS_ERR_VOLUME_AUTH',
      err,
    );
  if (/Target not found|not authori[sz]ed|Authorization failure/i.test(m))
    return new VolumeAttachError(
      volumeId,
      vmId,
      `the iSCSI target${portal ? ` at ${portal}` : ''} does not exist or does not let this host's initiator in (${m})`,
      'STRATUS_ERR_VOLUME_ACCESS',
      err,
    );
  return new VolumeAttachError(volumeId, vmId, m, 'STRATUS_ERR_VOLUME_ATTACH', err);
}

/** The guest did not release a hot-unplugged disk in time: it stays attached; retry later. */
export class VolumeDetachTimeoutError extends StratusError {
  constructor(volumeId: string, vmId: string, timeoutMs: number) {
    super(
      'STRATUS_ERR_VOLUME_BUSY',
      `the guest of VM ${vmId} did not release volume ${volumeId} within ${Math.round(timeoutMs / 1000)} s; it is still attached (is the disk mounted? retry the detach)`,
      { status: 409, details: { volumeId, vmId, timeoutMs } },
    );
  }
}
