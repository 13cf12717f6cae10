// Settles volume attaches and detaches cut by a crash of the agent or libvirtd (from the journal, see
// agent/vm/recovery.ts for the rules of every kind). An attach whose disk is in the domain (journaled,
// or seen in its definition) is finished by writing its record; any other is undone completely, by
// what the attach could have made whatever step it reached: the disk (live and persistent), the
// secret found by its usage id, the iSCSI session unless another attachment shares it, the record.
// A detach is always finished: its steps are idempotent and run again.

import type { Logger } from 'pino';
import { LibvirtError } from '../../drivers/libvirt/index.ts';
import { closeHostSession } from './host-iscsi.ts';
import type { AttachedVolume } from '../../protocol/volume.ts';
import type { Operation, OperationJournal } from '../vm/journal.ts';
import type { OperationSettler } from '../vm/recovery.ts';
import { attachmentRow, type VolumeAttacher } from './attacher.ts';
import { type AttachMode, type DiskPlacement, hasAlias, volumeAlias } from './disk-xml.ts';
import type { LibvirtConnection } from '../../drivers/libvirt/index.ts';

const ERR_NO_DOMAIN = 42;

export interface VolumeRecoveryOptions {
  conn: LibvirtConnection;
  journal: OperationJournal;
  volumes: VolumeAttacher;
}

export class VolumeRecovery implements OperationSettler {
  constructor(private readonly o: VolumeRecoveryOptions) {}

  async settle(op: Operation, log: Logger): Promise<'finished' | 'undone'> {
    if (op.kind === 'detach') {
      const res = await this.o.volumes.detachSteps(op.vm, String(op.data['volumeId']), op);
      this.o.journal.finish(op, res);
      return 'finished';
    }
    const volumeId = String(op.data['volumeId']);
    const alias = volumeAlias(volumeId);
    const placement = op.steps.find((s) => s.step === 'host-side')?.data?.['placement'] as DiskPlacement | undefined;
    if (
      op.status === 'running' &&
      placement &&
      (this.o.journal.has(op, 'device') || (await this.inDefinition(op.vm, alias)))
    ) {
      const view = this.finishAttach(op, volumeId, placement);
      log.info({ volume: volumeId, device: view.device }, 'interrupted attach finished: the disk is in the domain');
      return 'finished';
    }
    if (op.status !== 'undoing') this.o.journal.setStatus(op, 'undoing', op.error);
    await this.undoAttach(op, volumeId, alias);
    this.o.journal.setStatus(op, 'undone', op.error);
    return 'undone';
  }

  private async inDefinition(vmId: string, alias: string): Promise<boolean> {
    try {
      return hasAlias(await this.o.conn.domainXml(vmId, { inactive: true }), alias);
    } catch (err) {
      if (err instanceof LibvirtError && err.virCode === ERR_NO_DOMAIN) return false;
      throw err;
    }
  }

  private finishAttach(op: Operation, volumeId: string, placement: DiskPlacement): AttachedVolume {
    const records = this.o.volumes.records;
    let row = records.get(op.vm, volumeId);
    if (!row) {
      row = attachmentRow(op.vm, placement, {
        volumeId,
        portal: String(op.data['portal'] ?? ''),
        iqn: String(op.data['iqn'] ?? ''),
        lun: Number(op.data['lun'] ?? 0),
        readonly: op.data['readonly'] === true,
      });
      records.insert(row);
      this.o.journal.step(op, 'record');
    }
    const view = this.o.volumes.view(row, op.data['live'] === true);
    this.o.journal.finish(op, view);
    return view;
  }

  private async undoAttach(op: Operation, volumeId: string, alias: string): Promise<void> {
    try {
      await this.o.volumes.removeDevice(op.vm, alias, true);
    } catch (err) {
      if (!(err instanceof LibvirtError && err.virCode === ERR_NO_DOMAIN)) throw err;
    }
    const mode = op.data['mode'] as AttachMode;
    if (mode === 'qemu') await this.o.volumes.removeSecret(op.vm, volumeId);
    if (mode === 'host') {
      const portal = String(op.data['portal']);
      const iqn = String(op.data['iqn']);
      const others = this.o.volumes.records
        .sharingSession(portal, iqn)
        .filter((x) => !(x.vmId === op.vm && x.volumeId === volumeId));
      await closeHostSession({ iqn, portal }, others.length > 0);
    }
    this.o.volumes.records.delete(op.vm, volumeId);
  }
}
