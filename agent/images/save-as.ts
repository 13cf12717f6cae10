// Save-as: turns one disk of a VM into a new standalone image in the cache, with its sha256, ready
// to be deployed, registered or exported. A stopped VM's disk is flattened with `qemu-img convert`; a
// running VM's disk is copied live with libvirt's block copy (full, not shallow), which is ended
// without pivot once in sync, leaving a consistent point-in-time copy while the VM keeps its disk.
// Journaled (agent/vm/journal.ts, kind 'save-as': copy started, copied, admitted) so that recovery
// (agent/images/image-recovery.ts) keeps an admitted image or aborts the copy job and drops the file.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { xmlEscape } from '../../common/xml.ts';
import { removePath } from '../../drivers/image-files.ts';
import type { LibvirtConnection } from '../../drivers/libvirt/index.ts';
import { convert } from '../../drivers/qemu-img.ts';
import type { ImageView } from '../../protocol/image.ts';
import type { ImageCache } from './cache.ts';
import { DiskOperationError } from './errors.ts';
import type { InstanceDisks } from './instance-disks.ts';
import type { VmService } from '../vm/vm-service.ts';
import { OperationPendingError } from '../errors.ts';
import type { Operation } from '../vm/journal.ts';

const TARGETS = 'abcdefghijklmnopqrstuvwxyz';

export interface SaveAsOptions {
  conn: LibvirtConnection;
  vms: VmService;
  disks: InstanceDisks;
  cache: ImageCache;
  log: Logger;
  /** Longest a live copy may take to get in sync. */
  copyTimeoutMs?: number;
}

export class SaveAsService {
  constructor(private readonly o: SaveAsOptions) {}

  /** `upload`: the image is then uploaded by the caller (after a crash such a command runs again). */
  async saveAs(
    vmId: string,
    req: { disk: number; name?: string | undefined },
    key?: string,
    upload = false,
  ): Promise<ImageView> {
    const vm = this.o.vms.get(vmId);
    const spec = this.o.disks.resolve(vm.spec);
    const disk = spec.disks[req.disk];
    if (!disk) {
      throw new DiskOperationError(`VM ${vmId} has no disk ${req.disk} (it has ${spec.disks.length})`, {
        disk: req.disk,
      });
    }
    const log = this.o.log.child({ vm: vmId, disk: req.disk });
    const tmp = `${this.o.cache.tmpPath('save-as')}.qcow2`;
    const journal = this.o.vms.journal;
    return this.o.vms.locks.run(vmId, async () => {
      const open = journal.openFor(vmId);
      if (open) throw new OperationPendingError(vmId, open.kind);
      const started = Date.now();
      const d = await this.o.conn.getDomain(vmId);
      const target = `vd${TARGETS[req.disk]!}`;
      const op = journal.begin('save-as', vmId, key, { disk: req.disk, target, live: d.active, tmp, upload });
      try {
        if (d.active) await this.liveCopy(vmId, target, tmp, log, op);
        else await convert(disk.path, disk.format, tmp, 'qcow2');
        journal.step(op, 'copied');
        const img = await this.o.cache.admit(tmp, {
          expectedFormat: 'qcow2',
          meta: {
            origin: 'save-as',
            name: req.name ?? `${vm.name}-disk${req.disk}`,
            sourceUrl: null,
            sourceSha256: null,
            endorser: null,
          },
        });
        journal.step(op, 'admitted', { sha256: img.sha256 });
        log.info({ sha256: img.sha256, live: d.active, ms: Date.now() - started }, 'disk saved as an image');
        const view = this.o.cache.view(img);
        journal.finish(op, view);
        return view;
      } catch (err) {
        journal.fail(op, err, (err as { cleanupFailed?: boolean }).cleanupFailed === true);
        throw err;
      } finally {
        await removePath(tmp);
      }
    });
  }

  private async liveCopy(vmId: string, target: string, dest: string, log: Logger, op: Operation): Promise<void> {
    const xml = `<disk type='file'><source file='${xmlEscape(dest)}'/><driver type='qcow2'/></disk>`;
    await this.o.conn.blockCopy(vmId, target, xml);
    this.o.vms.journal.step(op, 'copy-started');
    try {
      const end = Date.now() + (this.o.copyTimeoutMs ?? 3_600_000);
      for (;;) {
        const j = await this.o.conn.blockJobInfo(vmId, target);
        if (!j) throw new DiskOperationError(`the live copy of ${target} of VM ${vmId} stopped unexpectedly`);
        // libvirt reports cur == end only once the mirror is in sync (ready)
        if (j.end > 0 && j.cur === j.end) break;
        if (Date.now() > end) throw new DiskOperationError(`the live copy of ${target} of VM ${vmId} timed out`);
        await sleep(100);
      }
      // without pivot: the copy becomes a consistent image of this instant; the VM keeps its own disk
      await this.o.conn.blockJobAbort(vmId, target);
      log.info({ target }, 'live block copy done');
    } catch (err) {
      // a copy job left running would keep mirroring the VM's disk: recovery aborts it then
      await this.o.conn.blockJobAbort(vmId, target).catch(() => {
        if (err instanceof Error) Object.assign(err, { cleanupFailed: true });
      });
      throw err;
    }
  }
}
