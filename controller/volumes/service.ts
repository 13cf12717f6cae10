// The volume service: create (quota checked in the same transaction as the insert), attach and detach
// (exclusive use, the backend's export narrowed to the hosts that need it, the agent told over the
// VolumeHosts port), delete (never while attached), and what happens when a VM is deleted. One
// operation at a time per volume. States: creating → available ⇄ attaching → in-use ⇄ detaching, and
// error (with a reason) when the outcome of a step is unknown or a removal failed.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ConflictError, NotFoundError, type StratusError, ValidationError } from '../../common/errors.ts';
import type { MigratingVolume, VolumePlacement } from '../../protocol/migration.ts';
import { KeyedMutex } from '../../common/keyed-mutex.ts';
import type {
  AttachedVolume,
  CreateVolumeRequest,
  Volume,
  VolumeAttachment,
  VolumeBackendName,
  VolumeQuota,
} from '../../protocol/volume.ts';
import type { VolumeBackend } from './backend.ts';
import {
  AgentOutcomeUnknownError,
  VmNotPlacedError,
  VolumeInUseError,
  VolumeNameTakenError,
  VolumeNotFoundError,
  VolumeQuotaExceededError,
  VolumeRequestError,
  VolumeStateError,
} from './errors.ts';
import type { VmPlacement, VolumeHosts } from './ports.ts';
import type { AttachmentRecord, VolumeRecord, VolumeStore } from './store.ts';

export interface VolumeServiceOptions {
  store: VolumeStore;
  log: Logger;
  backends: Partial<Record<VolumeBackendName, VolumeBackend>>;
  defaultBackend: VolumeBackendName;
  fileFormat: 'raw' | 'qcow2';
  hosts: VolumeHosts;
  defaultQuota: VolumeQuota;
  /** Quota from elsewhere (user records); falls back to the per-owner override, then the default. */
  quotaOf?: (ownerId: string) => VolumeQuota | undefined;
}

/** States in which the backend's export must exist in tgtd. */
const EXPORTED = new Set(['available', 'attaching', 'in-use', 'detaching', 'error']);

export class VolumeService {
  private readonly locks = new KeyedMutex();

  constructor(private readonly o: VolumeServiceOptions) {}

  private get store(): VolumeStore {
    return this.o.store;
  }

  private backend(v: { backend: VolumeBackendName }): VolumeBackend {
    const b = this.o.backends[v.backend];
    if (!b) throw new VolumeRequestError(`the ${v.backend} backend is not configured on this controller`);
    return b;
  }

  view(v: VolumeRecord): Volume {
    return {
      id: v.id,
      name: v.name,
      ownerId: v.ownerId,
      sizeGiB: v.sizeGiB,
      backend: v.backend,
      format: v.format,
      shareable: v.shareable,
      readonly: v.readonly,
      tags: v.tags,
      state: v.state,
      reason: v.reason,
      ...(v.iqn ? { iqn: v.iqn } : {}),
      attachments: this.store.attachments(v.id).map((a) => ({
        vmId: a.vmId,
        hostId: a.hostId,
        state: a.state,
        device: a.device,
        mode: a.mode,
        attachedAt: a.createdAt,
      })),
      createdAt: v.createdAt,
      updatedAt: v.updatedAt,
    };
  }

  /** `ownerId` undefined means an admin: every volume is visible. */
  private mustGet(id: string, ownerId?: string): VolumeRecord {
    const v = this.store.get(id);
    if (!v || (ownerId !== undefined && v.ownerId !== ownerId)) throw new VolumeNotFoundError(id);
    return v;
  }

  get(id: string, ownerId?: string): Volume {
    return this.view(this.mustGet(id, ownerId));
  }

  list(ownerId?: string): Volume[] {
    return this.store.list(ownerId).map((v) => this.view(v));
  }

  // ---------------------------------------------------------------- quotas

  limit(ownerId: string): VolumeQuota {
    return this.o.quotaOf?.(ownerId) ?? this.store.quotaOverride(ownerId) ?? this.o.defaultQuota;
  }

  usage(ownerId: string): { ownerId: string; limit: VolumeQuota; used: VolumeQuota } {
    return { ownerId, limit: this.limit(ownerId), used: this.store.usage(ownerId) };
  }

  setQuota(ownerId: string, q: VolumeQuota): { ownerId: string; limit: VolumeQuota; used: VolumeQuota } {
    this.store.setQuotaOverride(ownerId, q);
    return this.usage(ownerId);
  }

  // ---------------------------------------------------------------- create / delete

  async create(req: CreateVolumeRequest, ownerId: string): Promise<Volume> {
    const backendName = req.backend ?? this.o.defaultBackend;
    const backend = this.backend({ backend: backendName });
    if (backendName === 'iscsi' && req.format === 'qcow2')
      throw new VolumeRequestError('iSCSI volumes are raw LUNs; format qcow2 is for the file backend only');
    const format = backendName === 'iscsi' ? 'raw' : (req.format ?? this.o.fileFormat);
    if (req.shareable && format === 'qcow2' && !req.readonly)
      throw new VolumeRequestError('a shareable qcow2 volume must be read-only: qcow2 cannot have two writers');
    const id = randomUUID();
    const provision = { id, sizeGiB: req.sizeGiB, format, readonly: req.readonly } as const;
    const plan = backend.plan(provision);
    this.store.tx(() => {
      if (this.store.byName(ownerId, req.name)) throw new VolumeNameTakenError(req.name);
      const limit = this.limit(ownerId);
      const used = this.store.usage(ownerId);
      if (used.volumes + 1 > limit.volumes)
        throw new VolumeQuotaExceededError('volumes', used.volumes, 1, limit.volumes);
      if (used.gib + req.sizeGiB > limit.gib)
        throw new VolumeQuotaExceededError('gib', used.gib, req.sizeGiB, limit.gib);
      this.store.insert({
        id,
        name: req.name,
        ownerId,
        sizeGiB: req.sizeGiB,
        backend: backendName,
        format,
        shareable: req.shareable,
        readonly: req.readonly,
        tags: req.tags,
        state: 'creating',
        ...plan,
      });
    });
    const log = this.o.log.child({ volume: id });
    await this.locks.run(id, async () => {
      try {
        await backend.provision(provision, plan);
      } catch (err) {
        this.store.delete(id);
        log.warn({ err: (err as Error).message }, 'volume creation failed; nothing kept');
        throw err;
      }
      this.store.setState(id, 'available');
    });
    log.info({ name: req.name, owner: ownerId, sizeGiB: req.sizeGiB, backend: backendName }, 'volume created');
    return this.get(id);
  }

  async delete(id: string, ownerId?: string): Promise<void> {
    this.mustGet(id, ownerId);
    await this.locks.run(id, async () => {
      const v = this.mustGet(id, ownerId);
      const atts = this.store.attachments(id);
      if (atts.length > 0)
        throw new VolumeInUseError(
          id,
          atts.map((a) => a.vmId),
          'delete',
        );
      if (v.state === 'creating') throw new VolumeStateError(id, v.state, 'delete');
      this.store.setState(id, 'deleting');
      try {
        await this.backend(v).destroy(v);
      } catch (err) {
        this.store.setState(id, 'error', `delete failed: ${(err as Error).message}`);
        throw err;
      }
      this.store.delete(id);
      this.o.log.info({ volume: id }, 'volume deleted');
    });
  }

  // ---------------------------------------------------------------- attach / detach

  /** Attaching, detaching, in use or available, from the attachments; `reason` kept for the user. */
  private settle(id: string, reason = ''): void {
    const atts = this.store.attachments(id);
    const state = atts.some((a) => a.state === 'attaching')
      ? 'attaching'
      : atts.some((a) => a.state === 'detaching')
        ? 'detaching'
        : atts.length > 0
          ? 'in-use'
          : 'available';
    this.store.setState(id, state, reason);
  }

  private initiators(id: string): string[] {
    return [...new Set(this.store.attachments(id).map((a) => a.initiator))].filter(Boolean);
  }

  attachmentFor(v: VolumeRecord): VolumeAttachment {
    return { volumeId: v.id, source: this.backend(v).source(v), readonly: v.readonly, shareable: v.shareable };
  }

  private async placedVm(vmId: string, ownerId?: string): Promise<VmPlacement & { hostId: string }> {
    const vm = await this.o.hosts.vm(vmId);
    if (!vm || (ownerId !== undefined && vm.ownerId !== ownerId)) throw new NotFoundError('VM', vmId);
    if (!vm.hostId) throw new VmNotPlacedError(vmId, vm.state);
    return vm as VmPlacement & { hostId: string };
  }

  /** Checks and records a new attachment (state attaching) and opens the export to the VM's host. */
  private async reserve(v: VolumeRecord, vmId: string, hostId: string): Promise<void> {
    if (!['available', 'in-use'].includes(v.state))
      throw new VolumeStateError(v.id, v.state, 'attach', v.state === 'error' ? v.reason : '');
    const atts = this.store.attachments(v.id);
    if (atts.some((a) => a.vmId === vmId))
      throw new VolumeStateError(v.id, v.state, 'attach', `already attached to VM ${vmId}`);
    if (!v.shareable && atts.length > 0)
      throw new VolumeInUseError(
        v.id,
        atts.map((a) => a.vmId),
        'attach',
      );
    const initiator = v.backend === 'iscsi' ? await this.o.hosts.initiatorName(hostId) : '';
    this.store.insertAttachment({ volumeId: v.id, vmId, hostId, initiator, state: 'attaching' });
    this.settle(v.id);
    try {
      await this.backend(v).setAccess(v, this.initiators(v.id));
    } catch (err) {
      await this.forget(v, vmId, `attach to VM ${vmId} failed: ${(err as Error).message}`);
      throw err;
    }
  }

  /** Drops an attachment record and narrows the export again. */
  private async forget(v: VolumeRecord, vmId: string, reason = ''): Promise<void> {
    this.store.deleteAttachment(v.id, vmId);
    try {
      await this.backend(v).setAccess(v, this.initiators(v.id));
      this.settle(v.id, reason);
    } catch (err) {
      // the ACL may still name the host: say so rather than pretend
      this.store.setState(v.id, 'error', `could not narrow access after VM ${vmId}: ${(err as Error).message}`);
    }
  }

  async attach(id: string, vmId: string, ownerId?: string): Promise<Volume> {
    this.mustGet(id, ownerId);
    const vm = await this.placedVm(vmId, ownerId);
    const log = this.o.log.child({ volume: id, vm: vmId, host: vm.hostId });
    return this.locks.run(id, async () => {
      const v = this.mustGet(id, ownerId);
      const existing = this.store.attachments(id).find((a) => a.vmId === vmId);
      if (existing?.state === 'attached') return this.view(v); // a retry of a finished attach
      await this.reserve(v, vmId, vm.hostId);
      let res: AttachedVolume;
      try {
        res = await this.o.hosts.attach(vm.hostId, vmId, this.attachmentFor(v));
      } catch (err) {
        const msg = (err as Error).message;
        if (err instanceof AgentOutcomeUnknownError) {
          this.store.setState(
            id,
            'error',
            `attach to VM ${vmId} may or may not have happened: ${msg}; detach to clean up`,
          );
        } else {
          // the agent undid its own steps: undo ours
          await this.forget(v, vmId, `attach to VM ${vmId} failed: ${msg}`);
        }
        log.warn({ err: msg, code: (err as StratusError).code }, 'attach failed');
        throw err;
      }
      this.store.updateAttachment(id, vmId, { state: 'attached', device: res.device, mode: res.mode });
      this.settle(id);
      log.info({ device: res.device, mode: res.mode, live: res.live }, 'volume attached');
      return this.get(id);
    });
  }

  async detach(id: string, vmId: string | undefined, ownerId?: string): Promise<Volume> {
    this.mustGet(id, ownerId);
    return this.locks.run(id, async () => {
      const v = this.mustGet(id, ownerId);
      const atts = this.store.attachments(id);
      let a: AttachmentRecord | undefined;
      if (vmId) a = atts.find((x) => x.vmId === vmId);
      else if (atts.length > 1)
        throw new ValidationError(`volume ${id} is attached to ${atts.length} VMs: name the VM (vmId)`, {
          vmIds: atts.map((x) => x.vmId),
        });
      else a = atts[0];
      if (!a) throw new VolumeStateError(id, v.state, 'detach', vmId ? `not attached to VM ${vmId}` : 'not attached');
      const log = this.o.log.child({ volume: id, vm: a.vmId, host: a.hostId });
      this.store.updateAttachment(id, a.vmId, { state: 'detaching' });
      this.settle(id);
      try {
        await this.o.hosts.detach(a.hostId, a.vmId, id);
      } catch (err) {
        const e = err as StratusError;
        const vmGone = e.status === 404;
        if (!vmGone) {
          this.store.updateAttachment(id, a.vmId, { state: 'attached' });
          if (err instanceof AgentOutcomeUnknownError)
            this.store.setState(id, 'error', `detach from VM ${a.vmId} may not have happened: ${e.message}`);
          else this.settle(id, `detach from VM ${a.vmId} failed: ${e.message}`);
          log.warn({ err: e.message, code: e.code }, 'detach failed');
          throw err;
        }
        log.info({ err: e.message }, 'the VM is gone from its host: detached');
      }
      await this.forget(v, a.vmId);
      log.info('volume detached');
      return this.get(id);
    });
  }

  /**
   * A VM was deleted (its agent has already released the host side): its volumes become available and
   * the exports stop naming its host when nothing else there uses them.
   */
  async releaseVm(vmId: string): Promise<string[]> {
    const released: string[] = [];
    for (const a of this.store.attachmentsOfVm(vmId)) {
      await this.locks.run(a.volumeId, async () => {
        const v = this.store.get(a.volumeId);
        if (!v) return;
        await this.forget(v, vmId);
        released.push(v.id);
      });
    }
    if (released.length) this.o.log.info({ vm: vmId, volumes: released }, 'VM deleted: its volumes were released');
    return released;
  }

  // ---------------------------------------------------------------- deploy-time attachment

  /**
   * For a VM about to be deployed on `hostId` with these volumes: records the attachments (attaching),
   * opens the exports to that host and returns what the deploy command must carry. All or nothing.
   */
  async prepareDeploy(
    vmId: string,
    hostId: string,
    volumeIds: string[],
    ownerId?: string,
  ): Promise<VolumeAttachment[]> {
    const out: VolumeAttachment[] = [];
    try {
      for (const id of volumeIds) {
        this.mustGet(id, ownerId);
        await this.locks.run(id, async () => {
          const v = this.mustGet(id, ownerId);
          await this.reserve(v, vmId, hostId);
          out.push(this.attachmentFor(v));
        });
      }
    } catch (err) {
      await this.abortDeploy(vmId);
      throw err;
    }
    return out;
  }

  /** The agent attached them: record where. */
  confirmDeploy(vmId: string, attached: AttachedVolume[]): void {
    for (const r of attached) {
      this.store.updateAttachment(r.volumeId, vmId, { state: 'attached', device: r.device, mode: r.mode });
      this.settle(r.volumeId);
    }
  }

  /** The deploy failed (the agent undid its part): the volumes are available again. */
  async abortDeploy(vmId: string): Promise<void> {
    for (const a of this.store.attachmentsOfVm(vmId).filter((x) => x.state === 'attaching')) {
      await this.locks.run(a.volumeId, async () => {
        const v = this.store.get(a.volumeId);
        if (v) await this.forget(v, vmId);
      });
    }
  }

  // ---------------------------------------------------------------- migration

  /**
   * VM `vmId` is about to move to `target`: each iSCSI export names the target's initiator too (the
   * source keeps its access until the switch-over), and the answer says what the target must open and
   * where each volume is in the guest (`placements`, from the source agent). A volume the source has
   * and the controller does not know, or one in flight, refuses the move; on a refusal nothing changed.
   */
  async beginMove(vmId: string, target: string, placements: VolumePlacement[]): Promise<MigratingVolume[]> {
    const out: MigratingVolume[] = [];
    const atts = this.store.attachmentsOfVm(vmId);
    try {
      for (const p of placements) {
        const a = atts.find((x) => x.volumeId === p.volumeId);
        if (!a) throw new ConflictError(`volume ${p.volumeId} is attached on the VM's host but not in the records`);
        await this.locks.run(a.volumeId, async () => {
          const v = this.store.get(a.volumeId);
          if (!v || a.state !== 'attached') throw new VolumeStateError(a.volumeId, a.state, 'move');
          if (v.backend === 'iscsi') {
            const initiator = await this.o.hosts.initiatorName(target);
            await this.backend(v).setAccess(v, [...new Set([...this.initiators(v.id), initiator])]);
          }
          out.push({ attachment: this.attachmentFor(v), placement: p });
        });
      }
    } catch (err) {
      await this.endMove(vmId);
      throw err;
    }
    return out;
  }

  /**
   * The move is over: with `movedTo`, the attachments name that host (and its initiator); either way
   * each export names only the initiators of its attachments again (the source's, or the target's).
   */
  async endMove(vmId: string, movedTo?: string): Promise<void> {
    for (const a of this.store.attachmentsOfVm(vmId)) {
      await this.locks.run(a.volumeId, async () => {
        const v = this.store.get(a.volumeId);
        if (!v) return;
        try {
          if (movedTo) {
            const initiator = v.backend === 'iscsi' ? await this.o.hosts.initiatorName(movedTo) : '';
            this.store.moveAttachment(v.id, vmId, movedTo, initiator);
          }
          await this.backend(v).setAccess(v, this.initiators(v.id));
        } catch (err) {
          // the VM is where it is either way: say that the export may name one host too many
          this.store.setState(
            v.id,
            'error',
            `could not narrow access after moving VM ${vmId}: ${(err as Error).message}`,
          );
        }
      });
    }
    if (movedTo) this.o.log.info({ vm: vmId, host: movedTo }, 'volumes follow the migrated VM');
  }

  // ---------------------------------------------------------------- start-up

  /**
   * After a controller restart: volumes caught half-created or half-deleted are finished off (their
   * names were recorded before anything was made), and attachments caught in flight are marked error.
   */
  async recover(): Promise<void> {
    for (const v of this.store.list()) {
      if (v.state === 'creating' || v.state === 'deleting') {
        try {
          await this.backend(v).destroy(v);
          this.store.delete(v.id);
          this.o.log.warn({ volume: v.id, state: v.state }, 'volume interrupted by a restart was removed');
        } catch (err) {
          this.store.setState(v.id, 'error', `interrupted while ${v.state}: ${(err as Error).message}`);
        }
      } else if (v.state === 'attaching' || v.state === 'detaching') {
        const reason = `the controller restarted while ${v.state}; detach (or attach again) to settle it`;
        for (const a of this.store.attachments(v.id))
          if (a.state !== 'attached') this.store.updateAttachment(v.id, a.vmId, { state: 'attached' });
        this.store.setState(v.id, 'error', reason);
      }
    }
  }

  /** Whether any volume lives on the iSCSI backend (the tgtd watch idles without). */
  hasIscsiVolumes(): boolean {
    return this.store.list().some((v) => v.backend === 'iscsi');
  }

  /** What tgtd must hold: every exported iSCSI volume with the initiators of its attachments. */
  wantedTargets(): { wanted: { volume: VolumeRecord; initiators: string[] }[]; known: Set<string> } {
    const all = this.store.list().filter((v) => v.backend === 'iscsi');
    return {
      wanted: all
        .filter((v) => EXPORTED.has(v.state))
        .map((volume) => ({ volume, initiators: this.initiators(volume.id) })),
      known: new Set(all.map((v) => v.iqn).filter((x): x is string => !!x)),
    };
  }
}
