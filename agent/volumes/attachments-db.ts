// The agent's record of the volumes attached to its VMs (in the agent database, next to the VMs): what
// each attachment holds on this host (a libvirt secret, an iscsiadm session) so that detach, VM deletion
// and a restarted agent release exactly that. CHAP passwords are not kept here: they live in libvirt's
// private secrets (qemu mode) or open-iscsi's node records (host mode).

import { type Db, migrate } from '../../common/sqlite.ts';
import type { AttachMode } from './disk-xml.ts';

export interface AttachmentRow {
  vmId: string;
  volumeId: string;
  device: string;
  mode: AttachMode;
  alias: string;
  secretUuid: string;
  portal: string;
  iqn: string;
  lun: number;
  blockDevice: string;
  readonly: boolean;
  attachedAt: number;
}

const MIGRATIONS = [
  `CREATE TABLE volume_attachments (
     vm_id TEXT NOT NULL,
     volume_id TEXT NOT NULL,
     device TEXT NOT NULL,
     mode TEXT NOT NULL CHECK (mode IN ('qemu', 'host', 'file')),
     alias TEXT NOT NULL,
     secret_uuid TEXT NOT NULL DEFAULT '',
     portal TEXT NOT NULL DEFAULT '',
     iqn TEXT NOT NULL DEFAULT '',
     lun INTEGER NOT NULL DEFAULT 0,
     block_device TEXT NOT NULL DEFAULT '',
     readonly INTEGER NOT NULL DEFAULT 0,
     attached_at INTEGER NOT NULL,
     PRIMARY KEY (vm_id, volume_id)
   )`,
];

interface Row {
  vm_id: string;
  volume_id: string;
  device: string;
  mode: AttachMode;
  alias: string;
  secret_uuid: string;
  portal: string;
  iqn: string;
  lun: number;
  block_device: string;
  readonly: number;
  attached_at: number;
}

const toRow = (r: Row): AttachmentRow => ({
  vmId: r.vm_id,
  volumeId: r.volume_id,
  device: r.device,
  mode: r.mode,
  alias: r.alias,
  secretUuid: r.secret_uuid,
  portal: r.portal,
  iqn: r.iqn,
  lun: r.lun,
  blockDevice: r.block_device,
  readonly: r.readonly === 1,
  attachedAt: r.attached_at,
});

export class AttachmentsDb {
  constructor(private readonly db: Db) {
    migrate(db, 'volumes', MIGRATIONS);
  }

  insert(a: AttachmentRow): void {
    this.db
      .prepare(
        `INSERT INTO volume_attachments (vm_id, volume_id, device, mode, alias, secret_uuid, portal, iqn, lun,
           block_device, readonly, attached_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        a.vmId,
        a.volumeId,
        a.device,
        a.mode,
        a.alias,
        a.secretUuid,
        a.portal,
        a.iqn,
        a.lun,
        a.blockDevice,
        a.readonly ? 1 : 0,
        a.attachedAt,
      );
  }

  get(vmId: string, volumeId: string): AttachmentRow | undefined {
    const r = this.db
      .prepare('SELECT * FROM volume_attachments WHERE vm_id = ? AND volume_id = ?')
      .get(vmId, volumeId) as Row | undefined;
    return r && toRow(r);
  }

  ofVm(vmId: string): AttachmentRow[] {
    return (
      this.db.prepare('SELECT * FROM volume_attachments WHERE vm_id = ? ORDER BY attached_at').all(vmId) as Row[]
    ).map(toRow);
  }

  /** Host-mode attachments of this target and portal (they share one iscsiadm session). */
  sharingSession(portal: string, iqn: string): AttachmentRow[] {
    return (
      this.db
        .prepare("SELECT * FROM volume_attachments WHERE mode = 'host' AND portal = ? AND iqn = ?")
        .all(portal, iqn) as Row[]
    ).map(toRow);
  }

  all(): AttachmentRow[] {
    return (this.db.prepare('SELECT * FROM volume_attachments ORDER BY attached_at').all() as Row[]).map(toRow);
  }

  delete(vmId: string, volumeId: string): void {
    this.db.prepare('DELETE FROM volume_attachments WHERE vm_id = ? AND volume_id = ?').run(vmId, volumeId);
  }
}
