// Attaches volumes to this host's VMs and detaches them: hot-plug into a running guest (libvirt live +
// persistent definition) or into the definition only, at deploy time inside the VM's creation, and
// release of everything a deleted VM held. Each attach is a sequence of undoable steps (libvirt secret
// or iscsiadm session, then the device, then the record): a failure leaves no secret, no session and no
// half-attached device. A hot attach and a detach are journaled step by step (agent/vm/journal.ts), so
// that recovery (agent/volumes/volume-recovery.ts) finishes or undoes one cut by a crash; the journal
// keeps no CHAP password. Operations on one VM are serialised with the VM's own operations.

import type { Logger } from 'pino';
import type { HostPathGuard } from '../../common/host-paths.ts';
import { type Reverter, withReverter } from '../../common/reverter.ts';
import { ValidationError } from '../../common/errors.ts';
import { validate } from '../../common/validate.ts';
import { crashPoint } from '../../common/crash-point.ts';
import { type LibvirtConnection, LibvirtError, SECRET_USAGE_ISCSI } from '../../drivers/libvirt/index.ts';
import { xml } from '../../common/xml.ts';
import type { MigratingVolume, VolumePlacement } from '../../protocol/migration.ts';
import { type AttachedVolume, type HostIscsiInfo, type IscsiSource, VolumeAttachment } from '../../protocol/volume.ts';
import { OperationPendingError, VmNotFoundError } from '../errors.ts';
import type { Operation, OperationJournal } from '../vm/journal.ts';
import { type AttachmentRow, AttachmentsDb } from './attachments-db.ts';
import {
  type AttachMode,
  type DiskPlacement,
  diskAddress,
  hasAlias,
  nextDevice,
  usedDevices,
  volumeAlias,
  volumeDiskXml,
  volumeSerial,
} from './disk-xml.ts';
import { explainAttachFailure, VolumeDetachTimeoutError } from './errors.ts';
import { closeHostSession, openHostSession } from './host-iscsi.ts';
import type { Db } from '../../common/sqlite.ts';
import { hostInitiatorName } from '../../drivers/iscsiadm.ts';

export interface VolumeAttacherOptions {
  conn: LibvirtConnection;
  db: Db;
  log: Logger;
  iscsiMode: 'qemu' | 'host';
  /** This host's iSCSI initiator name (the target's ACL names it); empty: found by init(). */
  initiatorName: string;
  hostId: string;
  detachTimeoutMs: number;
  loginTimeoutMs: number;
  /** True when the agent manages a VM with this id. */
  vmExists: (vmId: string) => boolean;
  /** Runs `fn` while no other operation runs on the VM. */
  runExclusive: <T>(vmId: string, fn: () => Promise<T>) => Promise<T>;
  /** File volumes only under [agent] allowed_roots (symlinks resolved); unchecked when absent. */
  paths?: HostPathGuard;
  /** Journal of hot attaches and detaches, settled by recovery after a crash. */
  journal?: OperationJournal;
}

const ERR_NO_DOMAIN = 42;

export class VolumeAttacher {
  readonly records: AttachmentsDb;

  private initiator: string;

  constructor(private readonly o: VolumeAttacherOptions) {
    this.records = new AttachmentsDb(o.db);
    this.initiator = o.initiatorName;
  }

  /**
   * Settles the host's initiator name: the configured one, else open-iscsi's, else one derived from the
   * host id (QEMU's initiator can use any name; the target's ACL is what matters).
   */
  async init(): Promise<void> {
    if (this.initiator) return;
    this.initiator =
      (await hostInitiatorName()) ??
      `iqn.2024-01.org.stratus-cloud:host.${this.o.hostId.toLowerCase().replace(/[^a-z0-9.-]/g, '-')}`;
    this.o.log.info({ initiator: this.initiator, mode: this.o.iscsiMode }, 'iSCSI initiator name');
  }

  info(): HostIscsiInfo {
    return { initiatorName: this.initiator, mode: this.o.iscsiMode };
  }

  view(r: AttachmentRow, live: boolean): AttachedVolume {
    return {
      vmId: r.vmId,
      volumeId: r.volumeId,
      device: r.device,
      serial: volumeSerial(r.volumeId),
      mode: r.mode,
      live,
      attachedAt: r.attachedAt,
    };
  }

  list(vmId: string): AttachedVolume[] {
    if (!this.o.vmExists(vmId)) throw new VmNotFoundError(vmId);
    return this.records.ofVm(vmId).map((r) => this.view(r, true));
  }

  /**
   * Hot-plugs into the running guest (and its definition), or into the definition of a stopped VM.
   * `key`: the command's idempotency key, journaled with the operation.
   */
  async attach(vmId: string, input: unknown, key?: string): Promise<AttachedVolume> {
    const a = validate(VolumeAttachment, input, 'volume attachment');
    return this.o.runExclusive(vmId, async () => {
      if (!this.o.vmExists(vmId)) throw new VmNotFoundError(vmId);
      const open = this.o.journal?.openFor(vmId);
      if (open) throw new OperationPendingError(vmId, open.kind);
      const known = this.records.get(vmId, a.volumeId);
      if (known) return this.view(known, true); // a retried command: already done
      const { active } = await this.o.conn.getDomain(vmId);
      const op = this.o.journal?.begin('attach', vmId, key, attachIntent(a, active, this.modeOf(a)));
      try {
        const view = await withReverter((r) => this.attachSteps(vmId, a, active, r, op));
        if (op) this.o.journal!.finish(op, view);
        return view;
      } catch (err) {
        if (op) this.o.journal!.fail(op, err);
        throw err;
      }
    });
  }

  modeOf(a: VolumeAttachment): AttachMode {
    return a.source.type === 'file' ? 'file' : this.o.iscsiMode;
  }

  /**
   * Deploy time: the domain is defined, not started. Runs inside the VM's creation (which holds its
   * lock); the undo steps join the creation's reverter, so a failed start removes them too.
   */
  async attachForDeploy(vmId: string, inputs: unknown[], r: Reverter): Promise<AttachedVolume[]> {
    const list = inputs.map((i) => validate(VolumeAttachment, i, 'volume attachment'));
    const ids = list.map((a) => a.volumeId);
    if (new Set(ids).size !== ids.length) throw new ValidationError('a volume is listed twice', { volumeIds: ids });
    for (const a of list) if (a.source.type === 'file') await this.o.paths?.check('file volume', a.source.path);
    const out: AttachedVolume[] = [];
    for (const a of list) out.push(await this.attachSteps(vmId, a, false, r));
    return out;
  }

  private async attachSteps(
    vmId: string,
    a: VolumeAttachment,
    live: boolean,
    r: Reverter,
    op?: Operation,
  ): Promise<AttachedVolume> {
    const conn = this.o.conn;
    const log = this.o.log.child({ vm: vmId, volume: a.volumeId });
    const mode = this.modeOf(a);
    if (a.source.type === 'file') await this.o.paths?.check('file volume', a.source.path);
    const alias = volumeAlias(a.volumeId);
    const scope = { live, config: true };
    const [liveXml, configXml] = await Promise.all([
      live ? conn.domainXml(vmId) : Promise.resolve(''),
      conn.domainXml(vmId, { inactive: true }),
    ]);
    if (hasAlias(liveXml, alias) || hasAlias(configXml, alias)) {
      // attached earlier without a record (the agent died in between): take it out first
      await this.removeDevice(vmId, alias, live);
    }
    const device = nextDevice(new Set([...usedDevices(liveXml), ...usedDevices(configXml)]));
    const placement = await this.hostSide(vmId, a, device, r);
    if (op) this.o.journal!.step(op, 'host-side', { placement });
    const src = a.source.type === 'iscsi' ? (a.source as IscsiSource) : undefined;
    const diskXml = volumeDiskXml(a, placement);
    try {
      await conn.attachDevice(vmId, diskXml, scope);
    } catch (err) {
      // libvirt applies the live change first: if the definition then failed, unplug what went live
      await this.removeDevice(vmId, alias, live).catch((e) =>
        log.error({ err: (e as Error).message }, 'could not remove a half-attached disk'),
      );
      const e = explainAttachFailure(a.volumeId, vmId, err as Error, src?.portal);
      log.warn({ err: e.message, code: e.code, mode }, 'volume attach failed; every step undone');
      throw e;
    }
    r.add('detach the disk', () => this.removeDevice(vmId, alias, live));
    if (op) this.o.journal!.step(op, 'device', { device, alias });
    const row = this.record(vmId, a, placement, r);
    if (op) this.o.journal!.step(op, 'record');
    log.info({ device, mode, live }, 'volume attached');
    return this.view(row, live);
  }

  /** What a volume needs on this host before QEMU can open it: a libvirt secret (qemu mode) or a session. */
  private async hostSide(vmId: string, a: VolumeAttachment, device: string, r: Reverter): Promise<DiskPlacement> {
    const mode: AttachMode = a.source.type === 'file' ? 'file' : this.o.iscsiMode;
    const placement: DiskPlacement = { mode, device };
    const src = a.source.type === 'iscsi' ? (a.source as IscsiSource) : undefined;
    if (src && mode === 'qemu') {
      placement.initiator = this.initiator;
      placement.secretUuid = await this.defineSecret(vmId, a.volumeId, src, r);
      // the secret exists, its attachment is not recorded yet (a create's or a migration's volumes)
      crashPoint('volume:after-secret');
    } else if (src && mode === 'host') {
      const shared = this.records.sharingSession(src.portal, src.iqn).length > 0;
      placement.blockDevice = await openHostSession({ volumeId: a.volumeId, vmId }, src, r, {
        loginTimeoutMs: this.o.loginTimeoutMs,
        shared,
      });
    }
    return placement;
  }

  private record(vmId: string, a: VolumeAttachment, p: DiskPlacement, r: Reverter): AttachmentRow {
    const src = a.source.type === 'iscsi' ? (a.source as IscsiSource) : undefined;
    const row = attachmentRow(vmId, p, {
      volumeId: a.volumeId,
      portal: src?.portal ?? '',
      iqn: src?.iqn ?? '',
      lun: src?.lun ?? 0,
      readonly: a.readonly,
    });
    this.records.insert(row);
    r.add('forget the attachment', () => this.records.delete(vmId, a.volumeId));
    return row;
  }

  // ---------------------------------------------------------------- migration

  /** Migration source: where the VM's volumes are in its guest (device, PCI address), for the target. */
  async placements(vmId: string): Promise<VolumePlacement[]> {
    const rows = this.records.ofVm(vmId);
    if (rows.length === 0) return [];
    const live = await this.o.conn.domainXml(vmId);
    return rows.map((row) => {
      const address = diskAddress(live, row.alias);
      return { volumeId: row.volumeId, device: row.device, ...(address ? { address } : {}) };
    });
  }

  /**
   * Migration target: makes what the incoming VM's volumes need here (secret or session) and records
   * them; answers their disk XML for the destination domain, with the source's device and address.
   * The steps join `r`, so a failed preparation leaves nothing.
   */
  async prepareIncoming(vmId: string, items: MigratingVolume[], r: Reverter): Promise<string[]> {
    const out: string[] = [];
    for (const item of items) {
      const a = validate(VolumeAttachment, item.attachment, 'volume attachment');
      if (a.source.type === 'file') await this.o.paths?.check('file volume', a.source.path);
      if (this.records.get(vmId, a.volumeId)) this.records.delete(vmId, a.volumeId);
      const placement = await this.hostSide(vmId, a, item.placement.device, r);
      this.record(vmId, a, placement, r);
      const disk = volumeDiskXml(a, placement);
      out.push(item.placement.address ? disk.replace(/<\/disk>\s*$/, `  ${item.placement.address}\n</disk>`) : disk);
    }
    return out;
  }

  /** QEMU could not start because an iSCSI login failed: name the volume and the reason. */
  explainStartFailure(vmId: string, volumes: unknown[], err: unknown): unknown {
    if (!(err instanceof Error)) return err;
    const m = /iSCSI: Failed to connect to LUN : (.*)$/m.exec(err.message);
    if (!m) return err;
    const target = /\\?"target\\?":\\?"([^"\\]+)/.exec(err.message)?.[1];
    const a = (volumes as VolumeAttachment[]).find((v) => v.source.type === 'iscsi' && v.source.iqn === target);
    const portal = a?.source.type === 'iscsi' ? a.source.portal : undefined;
    return explainAttachFailure(a?.volumeId ?? target ?? 'volume', vmId, new Error(`iSCSI: ${m[1]}`), portal);
  }

  /** A private, persistent libvirt secret with the CHAP password, one per attachment. */
  private async defineSecret(vmId: string, volumeId: string, src: IscsiSource, r: Reverter): Promise<string> {
    const usage = secretUsage(volumeId, vmId);
    const stale = await this.o.conn.getSecretByUsage(SECRET_USAGE_ISCSI, usage);
    const doc = xml`<secret ephemeral='no' private='yes'>${stale ? xml`\n  <uuid>${stale.uuid}</uuid>` : xml``}
  <description>CHAP secret of ${src.chap.username} for volume ${volumeId} on VM ${vmId} (Stratus)</description>
  <usage type='iscsi'>
    <target>${usage}</target>
  </usage>
</secret>`.text;
    const s = await this.o.conn.defineSecret(doc, src.chap.secret);
    r.add('undefine the libvirt secret', () => this.o.conn.undefineSecret(s.uuid));
    return s.uuid;
  }

  /** Undefines the CHAP secret of this attachment, found by its usage (none is not an error). */
  async removeSecret(vmId: string, volumeId: string): Promise<void> {
    const s = await this.o.conn.getSecretByUsage(SECRET_USAGE_ISCSI, secretUsage(volumeId, vmId));
    if (s) await this.o.conn.undefineSecret(s.uuid);
  }

  /** Removes the disk with this alias from the running guest (waiting for it to let go) and the definition. */
  async removeDevice(vmId: string, alias: string, live: boolean): Promise<void> {
    const conn = this.o.conn;
    const dom = await conn.getDomain(vmId);
    if (live && dom.active && hasAlias(await conn.domainXml(vmId), alias)) {
      await conn.detachDeviceAlias(vmId, alias, { live: true, config: false });
      const end = Date.now() + this.o.detachTimeoutMs;
      while (hasAlias(await conn.domainXml(vmId), alias)) {
        if (Date.now() > end)
          throw new VolumeDetachTimeoutError(alias.replace(/^ua-volume-/, ''), vmId, this.o.detachTimeoutMs);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    if (hasAlias(await conn.domainXml(vmId, { inactive: true }), alias)) {
      await conn.detachDeviceAlias(vmId, alias, { live: false, config: true });
    }
  }

  /**
   * Hot-unplugs (waiting until the guest released the disk), removes it from the definition, then
   * releases what the attachment held on this host. Not attached is success: `detached` says which.
   */
  async detach(vmId: string, volumeId: string, key?: string): Promise<{ detached: boolean }> {
    return this.o.runExclusive(vmId, async () => {
      if (!this.o.vmExists(vmId)) throw new VmNotFoundError(vmId);
      const open = this.o.journal?.openFor(vmId);
      if (open) throw new OperationPendingError(vmId, open.kind);
      const row = this.records.get(vmId, volumeId);
      // from here on a crash is finished by recovery: a detach is never undone
      const op = this.o.journal?.begin('detach', vmId, key, { volumeId, attached: !!row });
      try {
        const res = await this.detachSteps(vmId, volumeId, op);
        if (op) this.o.journal!.finish(op, res);
        return res;
      } catch (err) {
        if (op) this.o.journal!.fail(op, err);
        throw err;
      }
    });
  }

  /** The steps of a detach, each idempotent (recovery runs them again to finish a cut one). */
  async detachSteps(vmId: string, volumeId: string, op?: Operation): Promise<{ detached: boolean }> {
    const row = this.records.get(vmId, volumeId);
    try {
      await this.removeDevice(vmId, volumeAlias(volumeId), true);
    } catch (err) {
      if (!(err instanceof LibvirtError && err.virCode === ERR_NO_DOMAIN)) throw err;
    }
    if (op) this.o.journal!.step(op, 'device-removed');
    const attached = op ? op.data['attached'] === true : !!row;
    if (!row) return { detached: attached };
    await this.release(row);
    if (op) this.o.journal!.step(op, 'released');
    this.o.log.info({ vm: vmId, volume: volumeId, device: row.device }, 'volume detached');
    return { detached: true };
  }

  /**
   * The VM's domain is gone (deleted, a create or an incoming migration undone): release the secrets and
   * sessions its volumes held. Secrets are also found by their usage id, so one defined just before a
   * crash, before its attachment was recorded (inside a create or a migration's prepare), goes too.
   */
  async releaseVm(vmId: string): Promise<void> {
    for (const row of this.records.ofVm(vmId)) {
      await this.release(row).catch((err) =>
        this.o.log.error({ vm: vmId, volume: row.volumeId, err: (err as Error).message }, 'releasing a volume failed'),
      );
    }
    const suffix = `-vm-${vmId}`;
    const all = await this.o.conn.listSecrets().catch((err: unknown) => {
      this.o.log.warn({ vm: vmId, err: (err as Error).message }, 'cannot list libvirt secrets');
      return [];
    });
    const strays = all.filter(
      (s) =>
        s.usageType === SECRET_USAGE_ISCSI && s.usageId.startsWith('stratus-volume-') && s.usageId.endsWith(suffix),
    );
    for (const s of strays) {
      await this.o.conn.undefineSecret(s.uuid);
      this.o.log.warn({ vm: vmId, usage: s.usageId }, 'unrecorded volume secret of a removed VM undefined');
    }
  }

  /** Releases what an attachment holds on this host (secret, or session unless shared) and its record. */
  async release(row: AttachmentRow): Promise<void> {
    if (row.mode === 'qemu' && row.secretUuid) await this.o.conn.undefineSecret(row.secretUuid);
    if (row.mode === 'host') {
      const others = this.records
        .sharingSession(row.portal, row.iqn)
        .filter((x) => !(x.vmId === row.vmId && x.volumeId === row.volumeId));
      await closeHostSession({ iqn: row.iqn, portal: row.portal }, others.length > 0);
    }
    this.records.delete(row.vmId, row.volumeId);
  }
}

/** The usage id of the libvirt secret of one attachment (how recovery finds it without a record). */
export function secretUsage(volumeId: string, vmId: string): string {
  return `stratus-volume-${volumeId}-vm-${vmId}`;
}

/** What an attach journals at its start: enough to undo it, never the CHAP password. */
export function attachIntent(a: VolumeAttachment, live: boolean, mode: AttachMode): Record<string, unknown> {
  const src = a.source.type === 'iscsi' ? (a.source as IscsiSource) : undefined;
  return {
    volumeId: a.volumeId,
    mode,
    live,
    readonly: a.readonly,
    ...(src ? { portal: src.portal, iqn: src.iqn, lun: src.lun } : {}),
  };
}

/** The attachment record of a placed volume. */
export function attachmentRow(
  vmId: string,
  p: DiskPlacement,
  v: { volumeId: string; portal: string; iqn: string; lun: number; readonly: boolean },
): AttachmentRow {
  return {
    vmId,
    volumeId: v.volumeId,
    device: p.device,
    mode: p.mode,
    alias: volumeAlias(v.volumeId),
    secretUuid: p.secretUuid ?? '',
    portal: v.portal,
    iqn: v.iqn,
    lun: v.lun,
    blockDevice: p.blockDevice ?? '',
    readonly: v.readonly,
    attachedAt: Date.now(),
  };
}
