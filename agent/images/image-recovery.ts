// Settles snapshot operations and save-as cut by a crash of the agent or libvirtd (from the journal;
// the rules of every kind are in agent/vm/recovery.ts). A snapshot create is finished when libvirt has
// the snapshot (waiting first for a snapshot job libvirt may still be running), else undone; revert and
// delete are finished by running their idempotent steps again. A save-as is finished when its image is
// in the cache, else its copy job is aborted and its temporary file removed.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { fileSize, removePath } from '../../drivers/image-files.ts';
import { type LibvirtConnection, LibvirtError } from '../../drivers/libvirt/index.ts';
import { deleteInternalSnapshot } from '../../drivers/qemu-img.ts';
import { asStratusError } from '../../common/errors.ts';
import type { Operation, OperationJournal } from '../vm/journal.ts';
import type { OperationSettler } from '../vm/recovery.ts';
import type { ImageCache } from './cache.ts';
import { SnapshotNotFoundError } from './errors.ts';
import type { SnapshotService } from './snapshots.ts';

const ERR_NO_DOMAIN = 42;
/** virDomainJobType: a job is running while its type is bounded (1) or unbounded (2). */
const JOB_RUNNING = new Set([1, 2]);

export interface ImageRecoveryOptions {
  conn: LibvirtConnection;
  journal: OperationJournal;
  snapshots: SnapshotService;
  cache: ImageCache;
  /** Longest wait for a snapshot job libvirt still runs for a dead agent (default 5 min). */
  jobWaitMs?: number;
}

/** qcow2 files of a domain definition (the disks a stopped VM's internal snapshots live in). */
export function qcow2Disks(domainXml: string): string[] {
  const out: string[] = [];
  for (const m of domainXml.matchAll(/<disk\b[^>]*>([\s\S]*?)<\/disk>/g)) {
    const body = m[1]!;
    if (!/<driver\b[^>]*type=['"]qcow2['"]/.test(body)) continue;
    const src = /<source\b[^>]*file=['"]([^'"]+)['"]/.exec(body)?.[1];
    if (src) out.push(src);
  }
  return out;
}

export class SnapshotRecovery implements OperationSettler {
  constructor(private readonly o: ImageRecoveryOptions) {}

  async settle(op: Operation, log: Logger): Promise<'finished' | 'undone'> {
    const name = String(op.data['name']);
    const action = op.data['action'];
    try {
      if (action === 'revert') {
        const state = (op.data['state'] ?? 'snapshot') as 'snapshot' | 'running' | 'stopped';
        this.o.journal.finish(op, await this.o.snapshots.revertSteps(op.vm, name, state, op));
        return 'finished';
      }
      if (action === 'delete') {
        this.o.journal.finish(op, await this.o.snapshots.deleteSteps(op.vm, name, op));
        return 'finished';
      }
    } catch (err) {
      if (!(err instanceof SnapshotNotFoundError)) throw err;
      // the snapshot is gone: the revert cannot be finished, and there is nothing to undo
      this.o.journal.setStatus(op, 'undone', asStratusError(err).toJSON());
      return 'undone';
    }
    if (op.status === 'running') {
      await this.waitForJob(op.vm, log);
      const made = (await this.o.conn.listSnapshots(op.vm)).find((d) => d.name === name);
      if (made) {
        const row = this.o.snapshots.record(op.vm, made);
        this.o.journal.finish(op, this.o.snapshots.view(row, made.current));
        return 'finished';
      }
      this.o.journal.setStatus(op, 'undoing', op.error);
    }
    this.o.snapshots.forget(op.vm, name);
    // a libvirtd killed mid-snapshot may leave the tag inside a stopped VM's disks, with no metadata
    const d = await this.o.conn.getDomain(op.vm);
    if (!d.active) {
      for (const path of qcow2Disks(await this.o.conn.domainXml(op.vm, { inactive: true }))) {
        if (await deleteInternalSnapshot(path, name)) log.warn({ path, snapshot: name }, 'partial snapshot removed');
      }
    }
    this.o.journal.setStatus(op, 'undone', op.error);
    return 'undone';
  }

  /** libvirt keeps taking a snapshot its caller died waiting for: its result is known once it ends. */
  private async waitForJob(vmId: string, log: Logger): Promise<void> {
    const end = Date.now() + (this.o.jobWaitMs ?? 300_000);
    for (;;) {
      let running: boolean;
      try {
        running = JOB_RUNNING.has((await this.o.conn.jobStats(vmId)).type);
      } catch (err) {
        if (err instanceof LibvirtError && err.connectionLost) throw err;
        running = false; // an inactive domain has no job
      }
      if (!running) return;
      if (Date.now() > end) throw new Error(`VM ${vmId} still has a libvirt job running; will retry`);
      log.info('waiting for the snapshot job libvirt is still running');
      await sleep(500);
    }
  }
}

export class SaveAsRecovery implements OperationSettler {
  constructor(private readonly o: ImageRecoveryOptions) {}

  async settle(op: Operation, log: Logger): Promise<'finished' | 'undone'> {
    const sha256 = op.steps.find((s) => s.step === 'admitted')?.data?.['sha256'] as string | undefined;
    const img = sha256 ? this.o.cache.find(sha256) : undefined;
    if (op.status === 'running' && img && (await fileSize(this.o.cache.path(img.sha256))) !== undefined) {
      this.o.journal.finish(op, this.o.cache.view(img));
      return 'finished';
    }
    if (op.status !== 'undoing') this.o.journal.setStatus(op, 'undoing', op.error);
    const target = String(op.data['target']);
    if (op.data['live'] === true) {
      try {
        const d = await this.o.conn.getDomain(op.vm);
        if (d.active && (await this.o.conn.blockJobInfo(op.vm, target))) {
          await this.o.conn.blockJobAbort(op.vm, target);
          log.warn({ target }, 'live copy job of an interrupted save-as aborted');
        }
      } catch (err) {
        if (!(err instanceof LibvirtError && err.virCode === ERR_NO_DOMAIN)) throw err;
      }
    }
    if (typeof op.data['tmp'] === 'string') await removePath(op.data['tmp']);
    this.o.journal.setStatus(op, 'undone', op.error);
    return 'undone';
  }
}
