// Domain operations, run synchronously on a call worker. Domains are addressed by UUID; every
// virDomainPtr obtained here is freed before the operation returns.

import { domainStateName, type DomainStateName } from '../constants.ts';
import { koffi, type Ptr, virt } from '../bindings.ts';
import { LibvirtError } from '../errors.ts';
import { takeLastError } from '../last-error.ts';
import { checkPtr, checkRc } from './check.ts';
import { withDomain } from './with-domain.ts';

export interface DomainSummary {
  uuid: string;
  name: string;
  id: number | null;
  state: DomainStateName;
  reason: number;
  active: boolean;
  /** Defined (not transient): an incoming migration's domain becomes persistent only once it completed. */
  persistent: boolean;
}

export interface DomainInfo {
  state: DomainStateName;
  maxMemKiB: number;
  memoryKiB: number;
  vcpus: number;
  cpuTimeNs: number;
}

export function domainUuid(dom: Ptr): string {
  const buf = Buffer.alloc(37);
  checkRc('virDomainGetUUIDString', virt.virDomainGetUUIDString(dom, buf));
  return buf.toString('latin1', 0, 36);
}

export function domainName(dom: Ptr): string {
  return virt.virDomainGetName(dom) ?? '';
}

function summarize(dom: Ptr): DomainSummary {
  const state = [0];
  const reason = [0];
  checkRc('virDomainGetState', virt.virDomainGetState(dom, state, reason, 0));
  const id = virt.virDomainGetID(dom) as number;
  const active = checkRc('virDomainIsActive', virt.virDomainIsActive(dom)) === 1;
  const persistent = checkRc('virDomainIsPersistent', virt.virDomainIsPersistent(dom)) === 1;
  return {
    uuid: domainUuid(dom),
    name: domainName(dom),
    id: active && id !== 0xffffffff ? id : null,
    state: domainStateName(state[0]!),
    reason: reason[0]!,
    active,
    persistent,
  };
}

export function define(conn: Ptr, xml: string): DomainSummary {
  const dom = checkPtr('virDomainDefineXML', virt.virDomainDefineXML(conn, xml));
  try {
    return summarize(dom);
  } finally {
    virt.virDomainFree(dom);
  }
}

export function lookupByName(conn: Ptr, name: string): DomainSummary {
  const dom = checkPtr('virDomainLookupByName', virt.virDomainLookupByName(conn, name));
  try {
    return summarize(dom);
  } finally {
    virt.virDomainFree(dom);
  }
}

export function get(conn: Ptr, uuid: string): DomainSummary {
  return withDomain(conn, uuid, summarize);
}

export function info(conn: Ptr, uuid: string): DomainInfo {
  return withDomain(conn, uuid, (dom) => {
    const out: Record<string, number | bigint> = {};
    checkRc('virDomainGetInfo', virt.virDomainGetInfo(dom, out));
    return {
      state: domainStateName(Number(out['state'])),
      maxMemKiB: Number(out['maxMem']),
      memoryKiB: Number(out['memory']),
      vcpus: Number(out['nrVirtCpu']),
      cpuTimeNs: Number(out['cpuTime']),
    };
  });
}

export function list(conn: Ptr, flags: number): DomainSummary[] {
  const out: (bigint | null)[] = [null];
  const n = checkRc('virConnectListAllDomains', virt.virConnectListAllDomains(conn, out, flags));
  const arr = out[0];
  if (!arr) return [];
  const ptrs = (n > 0 ? koffi.decode(arr, 'void *', n) : []) as bigint[];
  const result: DomainSummary[] = [];
  try {
    for (const dom of ptrs) {
      try {
        result.push(summarize(dom));
      } catch {
        // the domain vanished between listing and inspection: skip it
      }
    }
  } finally {
    for (const dom of ptrs) virt.virDomainFree(dom);
    koffi.free(arr);
  }
  return result;
}

export function xml(conn: Ptr, uuid: string, flags: number): string {
  return withDomain(conn, uuid, (dom) => {
    const s = virt.virDomainGetXMLDesc(dom, flags) as string | null;
    if (s === null) checkRc('virDomainGetXMLDesc', -1);
    return s as string;
  });
}

type Action = 'create' | 'shutdown' | 'destroy' | 'suspend' | 'resume';
const actions: Record<Action, [string, (dom: Ptr) => number]> = {
  create: ['virDomainCreate', (d) => virt.virDomainCreate(d)],
  shutdown: ['virDomainShutdown', (d) => virt.virDomainShutdown(d)],
  destroy: ['virDomainDestroy', (d) => virt.virDomainDestroy(d)],
  suspend: ['virDomainSuspend', (d) => virt.virDomainSuspend(d)],
  resume: ['virDomainResume', (d) => virt.virDomainResume(d)],
};

export function act(conn: Ptr, uuid: string, action: Action): DomainSummary {
  const [name, fn] = actions[action];
  return withDomain(conn, uuid, (dom) => {
    checkRc(name, fn(dom));
    return summarize(dom);
  });
}

export function reboot(conn: Ptr, uuid: string, flags: number): void {
  withDomain(conn, uuid, (dom) => checkRc('virDomainReboot', virt.virDomainReboot(dom, flags)));
}

export function reset(conn: Ptr, uuid: string): void {
  withDomain(conn, uuid, (dom) => checkRc('virDomainReset', virt.virDomainReset(dom, 0)));
}

/** virErrorNumber of a driver that does not know a flag: NO_SUPPORT, INVALID_ARG, OPERATION_UNSUPPORTED. */
const UNSUPPORTED_FLAG_ERRORS = new Set([3, 8, 84]);

/**
 * Undefines with `flags`; a driver that does not support some of them (the test driver has no NVRAM
 * or checkpoints) gets the call again with fewer flags, down to none, as Nova does.
 */
export function undefine(conn: Ptr, uuid: string, flags: number): void {
  withDomain(conn, uuid, (dom) => {
    const attempts = [...new Set([flags, flags & 0b11, 0])];
    for (const [i, f] of attempts.entries()) {
      if (virt.virDomainUndefineFlags(dom, f) === 0) return;
      const err = new LibvirtError('virDomainUndefineFlags', takeLastError());
      if (i === attempts.length - 1 || !UNSUPPORTED_FLAG_ERRORS.has(err.virCode)) throw err;
    }
  });
}
