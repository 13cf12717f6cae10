// Typed errors of the image cache, instance disks, snapshots and save-as: each with a stable code, an
// HTTP status and the details a user needs to act (expected and actual digests, the rule that refused).

import { ConflictError, NotFoundError, StratusError } from '../../common/errors.ts';

export class ChecksumMismatchError extends StratusError {
  constructor(url: string, algorithm: string, expected: string, actual: string) {
    super(
      'STRATUS_ERR_IMAGE_CHECKSUM',
      `image from ${url} does not match its ${algorithm}: expected ${expected}, got ${actual}; nothing was cached`,
      { status: 422, details: { url, algorithm, expected, actual } },
    );
  }
}

/** The image is malformed or dangerous (backing file, data file, unknown format, too large, ...). */
export class ImageRefusedError extends StratusError {
  constructor(sha256: string, reason: string, details: Record<string, unknown> = {}) {
    super('STRATUS_ERR_IMAGE_REFUSED', `image ${sha256} refused: ${reason}`, {
      status: 422,
      details: { sha256, reason, ...details },
    });
  }
}

export class ImagePolicyError extends StratusError {
  constructor(sha256: string, stage: string, reason: string, auditId: number) {
    super('STRATUS_ERR_IMAGE_POLICY', `image ${sha256} refused by the image policy before ${stage}: ${reason}`, {
      status: 403,
      details: { sha256, stage, reason, auditId },
    });
  }
}

export class ImageNotFoundError extends NotFoundError {
  constructor(sha256: string, hint = '') {
    super('image', sha256 + hint);
  }
}

export class ImageInUseError extends ConflictError {
  constructor(sha256: string, users: string[]) {
    super(`image ${sha256} backs ${users.length} instance disk(s) and cannot be removed`, { sha256, users });
  }
}

/** The cache quota cannot fit the image even after evicting every unused image. */
export class CacheQuotaError extends StratusError {
  constructor(sha256: string, neededBytes: number, quotaBytes: number, inUseBytes: number) {
    super(
      'STRATUS_ERR_IMAGE_CACHE_FULL',
      `image ${sha256} (${neededBytes} bytes) does not fit the image cache quota of ${quotaBytes} bytes: ${inUseBytes} bytes are images in use`,
      { status: 507, details: { sha256, neededBytes, quotaBytes, inUseBytes } },
    );
  }
}

export class DiskFullError extends StratusError {
  constructor(dir: string, what: string, details: Record<string, unknown> = {}) {
    super('STRATUS_ERR_DISK_FULL', `no space left in ${dir} for ${what}; nothing was kept`, {
      status: 507,
      details: { dir, ...details },
    });
  }
}

export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export class SnapshotNotFoundError extends NotFoundError {
  constructor(vm: string, name: string) {
    super('snapshot', `${name} of VM ${vm}`);
  }
}

export class SnapshotExistsError extends ConflictError {
  constructor(vm: string, name: string) {
    super(`VM ${vm} already has a snapshot named ${name}`, { vm, name });
  }
}

/** A disk operation that the disk's kind or the VM's state does not allow. */
export class DiskOperationError extends StratusError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('STRATUS_ERR_DISK_OPERATION', message, { status: 409, details });
  }
}
