// Turns a failed libvirt return value into a LibvirtError built from the same thread's last error.

import { LibvirtError } from '../errors.ts';
import { takeLastError } from '../last-error.ts';

export function checkRc(operation: string, rc: number): number {
  if (rc < 0) throw new LibvirtError(operation, takeLastError());
  return rc;
}

export function checkPtr(operation: string, p: bigint | null): bigint {
  if (!p) throw new LibvirtError(operation, takeLastError());
  return p;
}
