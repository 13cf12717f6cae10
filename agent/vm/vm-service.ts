// The agent's VM operations: create (checks, record, define, start — undone step by step on failure),
// power actions, delete. One operation at a time per VM; libvirt is the truth for power state.

import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type Reverter, withReverter } from '../../common/reverter.ts';
import { ValidationError } from '../../common/errors.ts';
import { KeyedMutex } from '../../common/keyed-mutex.ts';
import { validate } from '../../common/validate.ts';
import { removeFile } from '../../drivers/host-fs.ts';
import { LibvirtError, type LibvirtConnection } from '../../drivers/libvirt/index.ts';
import type { VmView } from '../../protocol/agent-api.ts';
import type { AttachedVolume } from '../../protocol/volume.ts';
import { VmSpec } from '../../protocol/vm-spec.ts';
import { buildDomainXml, domainName } from './domain-xml.ts';
import { VmBusyError, VmExistsError, VmNotFoundError } from '../errors.ts';
import type { InstanceDisks } from '../images/instance-disks.ts';
import type { AgentStateDb, VmRecord } from './state-db.ts';
import { gracefulStop } from './graceful-stop.ts';
import { checkSpecOnHost, checkSpecPaths } from './vm-checks.ts';
import type { HostPathGuard } from '../../common/host-paths.ts';
import type { VmNetwork } from '../network/vm-network.ts';

export type PowerAction = 'start' | 'stop' | 'reboot' | 'reset' | 'suspend' | 'resume';

export type { VmView };

export interface VmServiceOptions {
  conn: LibvirtConnection;
  db: AgentStateDb;
  log: Logger;
  hostId: string;
  virtType: 'kvm' | 'qemu';
  consoleLogDir: string;
  shutdownTimeoutMs: number;
  /** Overlays for disks that name an image (agent/instance-disks.ts). */
  disks?: InstanceDisks;
  /** Volumes attached at deploy time and released at deletion (agent/volumes/attacher.ts). */
  volumes?: VmVolumeHooks;
  /** Bridges of Stratus networks and per-NIC firewall rules (agent/network/vm-network.ts). */
  network?: VmNetwork;
  /** Host paths of specs only under [agent] allowed_roots (symlinks resolved); unchecked when absent. */
  paths?: HostPathGuard;
}

export interface VmVolumeHooks {
  /** Attaches to the defined, not yet started, domain; each step's undo goes to `r`. */
  attachForDeploy(vmId: string, volumes: unknown[], r: Reverter): Promise<AttachedVolume[]>;
  /** The domain is gone: releases the secrets and sessions its volumes held on this host. */
  releaseVm(vmId: string): Promise<void>;
  /** A start that failed because of a volume (an iSCSI login refused) becomes an error that says so. */
  explainStartFailure(vmId: string, volumes: unknown[], err: unknown): unknown;
}

export class VmService extends EventEmitter<{ changed: [VmView] }> {
  readonly locks = new KeyedMutex();

  constructor(private readonly o: VmServiceOptions) {
    super();
  }

  consoleLogPath(id: string): string {
    return join(this.o.consoleLogDir, `${id}.log`);
  }

  domainXml(spec: VmSpec): string {
    return buildDomainXml(this.o.disks ? this.o.disks.resolve(spec) : spec, {
      virtType: this.o.virtType,
      consoleLogPath: this.consoleLogPath(spec.id),
      hostId: this.o.hostId,
    });
  }

  view(r: VmRecord): VmView {
    return {
      id: r.id,
      name: r.spec.name,
      domain: domainName(r.id),
      desired: r.desired,
      state: r.observed,
      reason: r.reason,
      consoleLog: this.consoleLogPath(r.id),
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      spec: r.spec,
    };
  }

  list(): VmView[] {
    return this.o.db.list().map((r) => this.view(r));
  }

  get(id: string): VmView {
    const r = this.o.db.get(id);
    if (!r) throw new VmNotFoundError(id);
    return this.view(r);
  }

  /** Records libvirt's view of a VM's power state and tells listeners when it changed. */
  observe(id: string, state: string): void {
    const before = this.o.db.get(id);
    if (!before || before.observed === state) return;
    this.o.db.setObserved(id, state);
    this.emit('changed', this.get(id));
  }

  private async refresh(id: string): Promise<VmView> {
    try {
      const d = await this.o.conn.getDomain(id);
      this.observe(id, d.state);
    } catch (err) {
      if (err instanceof LibvirtError && err.virCode === 42) this.observe(id, 'missing');
      else throw err;
    }
    return this.get(id);
  }

  private async domainExists(id: string): Promise<boolean> {
    for (const lookup of [() => this.o.conn.getDomain(id), () => this.o.conn.lookupDomainByName(domainName(id))]) {
      try {
        await lookup();
        return true;
      } catch (err) {
        if (!(err instanceof LibvirtError && err.virCode === 42)) throw err;
      }
    }
    return false;
  }

  /** `extra.volumes`: volume attachments (protocol/volume.ts VolumeAttachment) to attach before the start. */
  async create(input: unknown, start = true, extra: { volumes?: unknown[] } = {}): Promise<VmView> {
    let spec = validate(VmSpec, input, 'VM spec');
    // the caller's paths, before the agent adds its own (context CD-ROM, instance overlays)
    if (this.o.paths) await checkSpecPaths(spec, this.o.paths);
    const log = this.o.log.child({ vm: spec.id, vmName: spec.name });
    let attached: AttachedVolume[] = [];
    const view = await this.locks.run(spec.id, async () => {
      if (this.o.db.get(spec.id)) throw new VmExistsError(spec.id, 'agent');
      if (await this.domainExists(spec.id)) throw new VmExistsError(spec.id, 'libvirt');
      // bridges of Stratus networks made, context CD-ROM downloaded and attached
      if (this.o.network) spec = await this.o.network.prepareSpec(spec);
      await checkSpecOnHost(spec, this.o.hostId);
      const xml = this.domainXml(spec);
      await withReverter(async (r) => {
        this.o.db.insert(spec, start ? 'running' : 'stopped');
        r.add('forget VM record', () => this.o.db.delete(spec.id));
        // firewall rules on the taps before the VM exists: it never runs unfiltered
        await this.o.network?.installForVm(spec, r);
        // image disks: fetched and verified if needed, pinned in the cache, overlays created
        if (this.o.disks) await this.o.disks.prepare(spec, r, log);
        await this.o.conn.defineDomain(xml);
        r.add('undefine domain', () => this.o.conn.undefineDomain(spec.id));
        r.add('remove console log', () => removeFile(this.consoleLogPath(spec.id)));
        if (extra.volumes?.length) {
          if (!this.o.volumes) throw new ValidationError('this agent cannot attach volumes');
          attached = await this.o.volumes.attachForDeploy(spec.id, extra.volumes, r);
        }
        if (start) {
          await this.o.conn.startDomain(spec.id);
          r.add('destroy domain', () => this.o.conn.destroyDomain(spec.id));
        }
      }).catch((err) => {
        log.warn({ err: err.message, code: err.code }, 'create failed; finished steps undone');
        throw extra.volumes?.length && this.o.volumes
          ? this.o.volumes.explainStartFailure(spec.id, extra.volumes, err)
          : err;
      });
      log.info({ start }, 'VM created');
      return this.refresh(spec.id);
    });
    // the deploy's caller (the controller) records where each volume was attached
    return attached.length > 0 ? { ...view, volumes: attached } : view;
  }

  /** Defines the domain again from the recorded spec (it vanished from libvirt). */
  async redefine(r: VmRecord): Promise<void> {
    await this.o.conn.defineDomain(this.domainXml(r.spec));
  }

  async act(id: string, action: PowerAction, opts: { force?: boolean; timeoutMs?: number } = {}): Promise<VmView> {
    const log = this.o.log.child({ vm: id, action });
    return this.locks.run(id, async () => {
      const r = this.o.db.get(id);
      if (!r) throw new VmNotFoundError(id);
      const conn = this.o.conn;
      if (!(await this.domainExists(id))) await this.redefine(r);
      const d = await conn.getDomain(id);
      switch (action) {
        case 'start':
          this.o.db.setDesired(id, 'running');
          if (!d.active) await conn.startDomain(id);
          break;
        case 'stop': {
          this.o.db.setDesired(id, 'stopped', 'stopped by request');
          if (!d.active) break;
          if (opts.force) await conn.destroyDomain(id);
          else {
            const res = await gracefulStop(conn, id, { timeoutMs: opts.timeoutMs ?? this.o.shutdownTimeoutMs });
            if (res.forced) log.warn('guest did not shut down in time; destroyed');
          }
          break;
        }
        case 'reboot':
        case 'reset':
          if (!d.active) throw new VmBusyError(id, d.state, action);
          await (action === 'reboot' ? conn.rebootDomain(id) : conn.resetDomain(id));
          break;
        case 'suspend':
          if (d.state !== 'running') throw new VmBusyError(id, d.state, action);
          await conn.suspendDomain(id);
          break;
        case 'resume':
          if (d.state !== 'paused') throw new VmBusyError(id, d.state, action);
          await conn.resumeDomain(id);
          break;
      }
      log.info('VM action done');
      return this.refresh(id);
    });
  }

  async delete(id: string): Promise<void> {
    const log = this.o.log.child({ vm: id });
    await this.locks.run(id, async () => {
      if (!this.o.db.get(id)) throw new VmNotFoundError(id);
      if (await this.domainExists(id)) {
        const d = await this.o.conn.getDomain(id);
        if (d.active) await this.o.conn.destroyDomain(id);
        await this.o.conn.undefineDomain(id);
      }
      await removeFile(this.consoleLogPath(id));
      await this.o.disks?.remove(id);
      await this.o.volumes?.releaseVm(id);
      const rec = this.o.db.get(id);
      if (rec) await this.o.network?.releaseVm(rec.spec);
      this.o.db.delete(id);
      log.info('VM deleted');
    });
  }
}
