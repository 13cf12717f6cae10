// libvirt secret operations (the store for CHAP passwords of iSCSI disks), run synchronously on a call
// worker: define, set the value, look up by UUID or usage, list, undefine. Every virSecretPtr obtained
// here is freed before the operation returns; secret values never come back out.

import { koffi, type Ptr, virt } from '../bindings.ts';
import { ERR_NO_SECRET } from '../constants.ts';
import { LibvirtError } from '../errors.ts';
import { takeLastError } from '../last-error.ts';
import { checkPtr, checkRc } from './check.ts';

export interface SecretSummary {
  uuid: string;
  usageType: number;
  usageId: string;
}

function summarize(sec: Ptr): SecretSummary {
  const buf = Buffer.alloc(37);
  checkRc('virSecretGetUUIDString', virt.virSecretGetUUIDString(sec, buf));
  return {
    uuid: buf.toString('latin1', 0, 36),
    usageType: virt.virSecretGetUsageType(sec) as number,
    usageId: (virt.virSecretGetUsageID(sec) as string | null) ?? '',
  };
}

function withSecret<T>(sec: Ptr, fn: (s: Ptr) => T): T {
  try {
    return fn(sec);
  } finally {
    virt.virSecretFree(sec);
  }
}

/** Defines (or redefines, same UUID/usage) a secret from XML and sets its value in one operation. */
export function define(conn: Ptr, xml: string, value: string): SecretSummary {
  const sec = checkPtr('virSecretDefineXML', virt.virSecretDefineXML(conn, xml, 0));
  return withSecret(sec, (s) => {
    const bytes = Buffer.from(value, 'utf8');
    if (virt.virSecretSetValue(s, bytes, bytes.length, 0) < 0) {
      const err = new LibvirtError('virSecretSetValue', takeLastError());
      virt.virSecretUndefine(s); // a secret without its value is of no use to anyone
      throw err;
    }
    return summarize(s);
  });
}

export function getByUuid(conn: Ptr, uuid: string): SecretSummary | null {
  const sec = virt.virSecretLookupByUUIDString(conn, uuid) as Ptr | null;
  if (!sec) return notFound('virSecretLookupByUUIDString');
  return withSecret(sec, summarize);
}

export function getByUsage(conn: Ptr, usageType: number, usageId: string): SecretSummary | null {
  const sec = virt.virSecretLookupByUsage(conn, usageType, usageId) as Ptr | null;
  if (!sec) return notFound('virSecretLookupByUsage');
  return withSecret(sec, summarize);
}

/** Undefines the secret with this UUID; true if it existed. */
export function undefine(conn: Ptr, uuid: string): boolean {
  const sec = virt.virSecretLookupByUUIDString(conn, uuid) as Ptr | null;
  if (!sec) return notFound('virSecretLookupByUUIDString') !== null;
  return withSecret(sec, (s) => {
    checkRc('virSecretUndefine', virt.virSecretUndefine(s));
    return true;
  });
}

export function list(conn: Ptr): SecretSummary[] {
  const out: (bigint | null)[] = [null];
  const n = checkRc('virConnectListAllSecrets', virt.virConnectListAllSecrets(conn, out, 0));
  const arr = out[0];
  if (!arr) return [];
  const ptrs = (n > 0 ? koffi.decode(arr, 'void *', n) : []) as bigint[];
  const result: SecretSummary[] = [];
  try {
    for (const s of ptrs) {
      try {
        result.push(summarize(s));
      } catch {
        // undefined between listing and inspection: skip it
      }
    }
  } finally {
    for (const s of ptrs) virt.virSecretFree(s);
    koffi.free(arr);
  }
  return result;
}

/** A lookup that found nothing returns null; any other failure is thrown. */
function notFound(operation: string): null {
  const info = takeLastError();
  if (info.code === ERR_NO_SECRET) return null;
  throw new LibvirtError(operation, info);
}
