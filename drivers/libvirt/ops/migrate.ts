// Live migration (virDomainMigrateToURI3, peer to peer), its limits (downtime, bandwidth), progress and
// completed statistics (virDomainGetJobStats) and cancellation (virDomainAbortJob). Run synchronously on a
// call worker: the migration call blocks its worker until the job ends, so progress and abort run on others.

import { type Ptr, virt } from '../bindings.ts';
import { checkRc } from './check.ts';
import { decodeTypedParams, type TypedValue } from './stats.ts';
import { withDomain } from './with-domain.ts';

/** virDomainMigrateFlags */
export const MIGRATE_LIVE = 1 << 0;
export const MIGRATE_PEER2PEER = 1 << 1;
export const MIGRATE_PERSIST_DEST = 1 << 3;
export const MIGRATE_UNDEFINE_SOURCE = 1 << 4;
export const MIGRATE_PAUSED = 1 << 5;
export const MIGRATE_NON_SHARED_INC = 1 << 7;
/** Skips libvirt's check that disks not copied are on a filesystem it knows to be shared (NFS, Ceph, ...). */
export const MIGRATE_UNSAFE = 1 << 9;
export const MIGRATE_ABORT_ON_ERROR = 1 << 12;
export const MIGRATE_AUTO_CONVERGE = 1 << 13;
/** virDomainGetJobStatsFlags */
export const JOB_STATS_COMPLETED = 1 << 0;
/** virDomainCreateFlags */
export const START_PAUSED = 1 << 0;

export interface MigrateParams {
  /** Domain XML for the destination (its own disk, console and ISO paths). */
  destXml?: string;
  /** Persistent definition kept on the destination (PERSIST_DEST); defaults to destXml. */
  persistXml?: string;
  /** Where QEMU sends the migration stream and NBD disk copy, e.g. tcp://10.0.0.2. */
  migrateUri?: string;
  /** Disks (target dev) copied with NBD (NON_SHARED_INC: only the overlay layer). */
  disks?: string[];
  /** MiB/s, 0 = unlimited. */
  bandwidthMiBs?: number;
}

export interface JobStats {
  /** virDomainJobType: 0 none, 1 bounded, 2 unbounded, 3 completed, 4 failed, 5 cancelled. */
  type: number;
  params: Record<string, TypedValue>;
}

function buildParams(p: MigrateParams): { params: bigint | null; n: number } {
  const params: (bigint | null)[] = [null];
  const n = [0];
  const max = [0];
  const str = (name: string, value: string) =>
    checkRc('virTypedParamsAddString', virt.virTypedParamsAddString(params, n, max, name, value));
  try {
    if (p.destXml) str('destination_xml', p.destXml);
    const persist = p.persistXml ?? p.destXml;
    if (persist) str('persistent_xml', persist);
    if (p.migrateUri) str('migrate_uri', p.migrateUri);
    for (const d of p.disks ?? []) str('migrate_disks', d);
    if (p.bandwidthMiBs)
      checkRc('virTypedParamsAddULLong', virt.virTypedParamsAddULLong(params, n, max, 'bandwidth', p.bandwidthMiBs));
  } catch (err) {
    if (params[0]) virt.virTypedParamsFree(params[0], n[0]!);
    throw err;
  }
  return { params: params[0] ?? null, n: n[0]! };
}

/** Migrates the domain to `dconnuri` (peer to peer: the source libvirtd connects to it); blocks until done. */
export function toUri(conn: Ptr, uuid: string, dconnuri: string, p: MigrateParams, flags: number): void {
  const { params, n } = buildParams(p);
  try {
    withDomain(conn, uuid, (dom) =>
      checkRc('virDomainMigrateToURI3', virt.virDomainMigrateToURI3(dom, dconnuri, params, n, flags)),
    );
  } finally {
    if (params) virt.virTypedParamsFree(params, n);
  }
}

export function setMaxDowntime(conn: Ptr, uuid: string, ms: number): void {
  withDomain(conn, uuid, (dom) =>
    checkRc('virDomainMigrateSetMaxDowntime', virt.virDomainMigrateSetMaxDowntime(dom, ms, 0)),
  );
}

/** The domain's current job (or, with JOB_STATS_COMPLETED, its last completed one). */
export function jobStats(conn: Ptr, uuid: string, flags: number): JobStats {
  return withDomain(conn, uuid, (dom) => {
    const type = [0];
    const params: (bigint | null)[] = [null];
    const n = [0];
    checkRc('virDomainGetJobStats', virt.virDomainGetJobStats(dom, type, params, n, flags));
    try {
      return { type: type[0]!, params: params[0] ? decodeTypedParams(params[0], n[0]!) : {} };
    } finally {
      if (params[0]) virt.virTypedParamsFree(params[0], n[0]!);
    }
  });
}

export function abortJob(conn: Ptr, uuid: string): void {
  withDomain(conn, uuid, (dom) => checkRc('virDomainAbortJob', virt.virDomainAbortJob(dom)));
}

/** Starts a defined domain paused (its vCPUs never run): used to move a stopped VM's disks. */
export function startPaused(conn: Ptr, uuid: string): void {
  withDomain(conn, uuid, (dom) =>
    checkRc('virDomainCreateWithFlags', virt.virDomainCreateWithFlags(dom, START_PAUSED)),
  );
}
