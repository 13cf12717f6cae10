// Domain snapshot operations (virDomainSnapshot*), run synchronously on a call worker. Domains are
// addressed by UUID and snapshots by name; every domain and snapshot pointer is freed before return.

import { koffi, libcFree, type Ptr, virt } from '../bindings.ts';
import { checkPtr, checkRc } from './check.ts';
import { withDomain } from './with-domain.ts';

/** virDomainSnapshotCreateFlags */
export const SNAPSHOT_CREATE_REDEFINE = 1 << 0;
export const SNAPSHOT_CREATE_CURRENT = 1 << 1;
export const SNAPSHOT_CREATE_ATOMIC = 1 << 7;
/** virDomainSnapshotRevertFlags */
export const SNAPSHOT_REVERT_RUNNING = 1 << 0;
export const SNAPSHOT_REVERT_PAUSED = 1 << 1;
export const SNAPSHOT_REVERT_FORCE = 1 << 2;
/** virDomainSnapshotDeleteFlags */
export const SNAPSHOT_DELETE_CHILDREN = 1 << 0;
export const SNAPSHOT_DELETE_METADATA_ONLY = 1 << 1;
/** virDomainSnapshotXMLFlags */
export const SNAPSHOT_XML_SECURE = 1 << 0;

export interface SnapshotDesc {
  name: string;
  current: boolean;
  /** libvirt's snapshot XML (state, creation time, disks and the domain definition it belongs to). */
  xml: string;
}

function withSnapshot<T>(conn: Ptr, uuid: string, name: string, fn: (snap: Ptr) => T): T {
  return withDomain(conn, uuid, (dom) => {
    const snap = checkPtr('virDomainSnapshotLookupByName', virt.virDomainSnapshotLookupByName(dom, name, 0));
    try {
      return fn(snap);
    } finally {
      virt.virDomainSnapshotFree(snap);
    }
  });
}

function describe(snap: Ptr): SnapshotDesc {
  const xml = virt.virDomainSnapshotGetXMLDesc(snap, 0) as string | null;
  if (xml === null) checkRc('virDomainSnapshotGetXMLDesc', -1);
  return {
    name: (virt.virDomainSnapshotGetName(snap) as string | null) ?? '',
    current: checkRc('virDomainSnapshotIsCurrent', virt.virDomainSnapshotIsCurrent(snap, 0)) === 1,
    xml: xml as string,
  };
}

export function create(conn: Ptr, uuid: string, xml: string, flags: number): SnapshotDesc {
  return withDomain(conn, uuid, (dom) => {
    const snap = checkPtr('virDomainSnapshotCreateXML', virt.virDomainSnapshotCreateXML(dom, xml, flags));
    try {
      return describe(snap);
    } finally {
      virt.virDomainSnapshotFree(snap);
    }
  });
}

export function list(conn: Ptr, uuid: string, flags: number): SnapshotDesc[] {
  return withDomain(conn, uuid, (dom) => {
    const out: (bigint | null)[] = [null];
    const n = checkRc('virDomainListAllSnapshots', virt.virDomainListAllSnapshots(dom, out, flags));
    const arr = out[0];
    if (!arr) return [];
    const ptrs = (n > 0 ? koffi.decode(arr, 'void *', n) : []) as bigint[];
    try {
      return ptrs.map(describe);
    } finally {
      for (const s of ptrs) virt.virDomainSnapshotFree(s);
      libcFree(arr);
    }
  });
}

export function get(conn: Ptr, uuid: string, name: string): SnapshotDesc {
  return withSnapshot(conn, uuid, name, describe);
}

export function revert(conn: Ptr, uuid: string, name: string, flags: number): void {
  withSnapshot(conn, uuid, name, (snap) =>
    checkRc('virDomainRevertToSnapshot', virt.virDomainRevertToSnapshot(snap, flags)),
  );
}

export function remove(conn: Ptr, uuid: string, name: string, flags: number): void {
  withSnapshot(conn, uuid, name, (snap) =>
    checkRc('virDomainSnapshotDelete', virt.virDomainSnapshotDelete(snap, flags)),
  );
}
