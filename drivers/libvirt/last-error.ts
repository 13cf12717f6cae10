// Reads and clears libvirt's thread-local last error. Must run on the thread that made the failing call.

import { koffi, VirErrorT, virt } from './bindings.ts';
import type { VirErrorInfo } from './errors.ts';

let silenced = false;

/** Stops libvirt's default handler from printing errors to stderr, once per process. */
export function silenceDefaultErrorHandler(handler: bigint): void {
  if (silenced) return;
  virt.virSetErrorFunc(null, handler);
  silenced = true;
}

export function takeLastError(): VirErrorInfo {
  const p = virt.virGetLastError() as bigint | null;
  if (!p) return { code: 0, domain: 0, level: 0, message: '' };
  const e = koffi.decode(p, VirErrorT) as { code: number; domain: number; level: number; message: string | null };
  const info = { code: e.code, domain: e.domain, level: e.level, message: e.message ?? '' };
  virt.virResetLastError();
  return info;
}
