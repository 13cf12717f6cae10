// Live block copy of a running domain's disk (virDomainBlockCopy), its progress (virDomainGetBlockJobInfo)
// and its end (virDomainBlockJobAbort, with or without pivot). Run synchronously on a call worker;
// every domain pointer is freed before return.

import { type Ptr, virt } from '../bindings.ts';
import { checkRc } from './check.ts';
import { withDomain } from './with-domain.ts';

/** virDomainBlockCopyFlags */
export const BLOCK_COPY_SHALLOW = 1 << 0;
export const BLOCK_COPY_REUSE_EXT = 1 << 1;
/** Required for persistent domains: the job is not recoverable across a libvirtd restart. */
export const BLOCK_COPY_TRANSIENT_JOB = 1 << 2;
/** virDomainBlockJobAbortFlags */
export const BLOCK_JOB_ABORT_ASYNC = 1 << 0;
export const BLOCK_JOB_ABORT_PIVOT = 1 << 1;

export interface BlockJobInfo {
  /** virDomainBlockJobType: 1 pull, 2 copy, 3 commit, 4 active commit, 5 backup. */
  type: number;
  cur: number;
  end: number;
}

export function start(conn: Ptr, uuid: string, disk: string, destXml: string, flags: number): void {
  withDomain(conn, uuid, (dom) =>
    checkRc('virDomainBlockCopy', virt.virDomainBlockCopy(dom, disk, destXml, null, 0, flags)),
  );
}

/** The disk's block job, or null when it has none. */
export function info(conn: Ptr, uuid: string, disk: string): BlockJobInfo | null {
  return withDomain(conn, uuid, (dom) => {
    const out: Record<string, number | bigint> = {};
    const rc = checkRc('virDomainGetBlockJobInfo', virt.virDomainGetBlockJobInfo(dom, disk, out, 0));
    if (rc === 0) return null;
    return { type: Number(out['type']), cur: Number(out['cur']), end: Number(out['end']) };
  });
}

export function abort(conn: Ptr, uuid: string, disk: string, flags: number): void {
  withDomain(conn, uuid, (dom) => checkRc('virDomainBlockJobAbort', virt.virDomainBlockJobAbort(dom, disk, flags)));
}
