// The agent's VM operations: create (checks, record, define, start — undone step by step on failure),
// power actions, delete. One operation at a time per VM; libvirt is the truth for power state. Create
// and delete are journaled step by step (agent/vm/journal.ts) so that recovery (agent/vm/recovery.ts)
// can finish or undo them after a crash; a deploy repeated with its idempotency key is answered with
// the VM it made (or adopts the domain it left, when the spec hash in its metadata matches).

import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type Reverter, withReverter } from '../../common/reverter.ts';
import { asStratusError, ValidationError } from '../../common/errors.ts';
import { KeyedMutex } from '../../common/keyed-mutex.ts';
import { validate } from '../../common/validate.ts';
import { removeFile } from '../../drivers/host-fs.ts';
import { LibvirtDisconnectedError, LibvirtError, type LibvirtConnection } from '../../drivers/libvirt/index.ts';
import type { VmView } from '../../protocol/agent-api.ts';
import { specHash } from '../../protocol/mqtt/inventory.ts';
import type { AttachedVolume } from '../../protocol/volume.ts';
import { VmSpec } from '../../protocol/vm-spec.ts';
import { buildDomainXml, domainName, readStratusMetadata, type StratusMetadata } from './domain-xml.ts';
import { CreateUnsettledError, OperationPendingError, VmBusyError, VmExistsError, VmNotFoundError } from '../errors.ts';
import type { Operation, OperationJournal } from './journal.ts';
import type { InstanceDisks } from '../images/instance-disks.ts';
import type { AgentStateDb, VmRecord } from './state-db.ts';
import { gracefulStop } from './graceful-stop.ts';
import { checkSpecOnHost, checkSpecPaths } from './vm-checks.ts';
import type { HostPathGuard } from '../../common/host-paths.ts';
import type { VmNetwork } from '../network/vm-network.ts';

export type PowerAction = 'start' | 'stop' | 'reboot' | 'reset' | 'suspend' | 'resume';

export type { VmView };

export interface CreateExtra {
  volumes?: unknown[];
  /** The deploy's idempotency key: recorded with the VM, in the journal and in the domain metadata. */
  key?: string;
}

export interface VmServiceOptions {
  conn: LibvirtConnection;
  db: AgentStateDb;
  /** Journal of multi-step operations (create, delete), read by recovery after a crash. */
  journal: OperationJournal;
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

export class VmService extends EventEmitter<{ changed: [VmView]; adopted: [string]; removed: [string] }> {
  readonly locks = new KeyedMutex();

  constructor(private readonly o: VmServiceOptions) {
    super();
  }

  consoleLogPath(id: string): string {
    return join(this.o.consoleLogDir, `${id}.log`);
  }

  get journal(): OperationJournal {
    return this.o.journal;
  }

  domainXml(spec: VmSpec, origin: { key?: string | undefined; specHash?: string | undefined } = {}): string {
    return buildDomainXml(this.o.disks ? this.o.disks.resolve(spec) : spec, {
      virtType: this.o.virtType,
      consoleLogPath: this.consoleLogPath(spec.id),
      hostId: this.o.hostId,
      key: origin.key,
      specHash: origin.specHash,
    });
  }

  /** The Stratus metadata of domain `id`; undefined when it has none (or is gone). */
  async metadataOf(id: string): Promise<StratusMetadata | undefined> {
    try {
      return readStratusMetadata(await this.o.conn.domainXml(id, { inactive: true }));
    } catch (err) {
      if (err instanceof LibvirtError && err.virCode === 42) return undefined;
      throw err;
    }
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
      ...(r.key ? { key: r.key } : {}),
      ...(r.specHash ? { specHash: r.specHash } : {}),
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

  async domainExists(id: string): Promise<boolean> {
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

  /**
   * `extra.volumes`: volume attachments (protocol/volume.ts VolumeAttachment) to attach before the start;
   * `extra.key`: the deploy's idempotency key. Every step is journaled as it finishes.
   */
  async create(input: unknown, start = true, extra: CreateExtra = {}): Promise<VmView> {
    const asSent = validate(VmSpec, input, 'VM spec');
    const hash = specHash(asSent);
    let spec = asSent;
    // the caller's paths, before the agent adds its own (context CD-ROM, instance overlays)
    if (this.o.paths) await checkSpecPaths(spec, this.o.paths);
    const log = this.o.log.child({ vm: spec.id, vmName: spec.name, key: extra.key });
    let attached: AttachedVolume[] = [];
    const view = await this.locks.run(spec.id, async () => {
      const open = this.o.journal.openFor(spec.id);
      if (open) throw new OperationPendingError(spec.id, open.kind);
      const existing = this.o.db.get(spec.id);
      if (existing) {
        if (extra.key && existing.key === extra.key && existing.specHash === hash) {
          log.info('deploy repeated with its key: the VM it created is the answer');
          return this.refresh(spec.id);
        }
        throw new VmExistsError(spec.id, 'agent');
      }
      if (await this.domainExists(spec.id)) {
        const meta = await this.metadataOf(spec.id);
        if (extra.key && meta?.host === this.o.hostId && meta.key === extra.key && meta.specHash === hash) {
          return this.adoptLocked(asSent, extra.key, log, start);
        }
        throw new VmExistsError(spec.id, 'libvirt');
      }
      const origin = { key: extra.key, specHash: hash };
      const op = this.o.journal.begin('create', spec.id, extra.key, {
        spec: asSent,
        start,
        specHash: hash,
        ...(extra.volumes?.length ? { volumes: extra.volumes } : {}),
      });
      try {
        await withReverter(async (r) => {
          // bridges of Stratus networks made, context CD-ROM downloaded and attached
          if (this.o.network) spec = await this.o.network.prepareSpec(spec);
          await checkSpecOnHost(spec, this.o.hostId);
          const xml = this.domainXml(spec, origin);
          this.o.db.insert(spec, start ? 'running' : 'stopped', origin);
          r.add('forget VM record', () => this.o.db.delete(spec.id));
          this.o.journal.step(op, 'record');
          // firewall rules on the taps before the VM exists: it never runs unfiltered
          await this.o.network?.installForVm(spec, r);
          this.o.journal.step(op, 'firewall');
          // image disks: fetched and verified if needed, pinned in the cache, overlays created
          if (this.o.disks) await this.o.disks.prepare(spec, r, log);
          this.o.journal.step(op, 'disks');
          await this.o.conn.defineDomain(xml);
          r.add('undefine domain', () => this.o.conn.undefineDomain(spec.id));
          r.add('remove console log', () => removeFile(this.consoleLogPath(spec.id)));
          this.o.journal.step(op, 'define', { domain: domainName(spec.id) });
          if (extra.volumes?.length) {
            if (!this.o.volumes) throw new ValidationError('this agent cannot attach volumes');
            attached = await this.o.volumes.attachForDeploy(spec.id, extra.volumes, r);
            this.o.journal.step(op, 'volumes', { attached });
          }
          if (start) {
            await this.o.conn.startDomain(spec.id);
            r.add('destroy domain', () => this.o.conn.destroyDomain(spec.id));
            this.o.journal.step(op, 'start');
          }
        });
      } catch (err) {
        const undoFailures = (err as { undoFailures?: unknown[] }).undoFailures ?? [];
        // libvirt lost mid-step: that step may have happened (a domain defined or started) after all
        const lost = err instanceof LibvirtDisconnectedError || (err instanceof LibvirtError && err.connectionLost);
        // an undo that failed (libvirt gone) is left to recovery, which retries the whole cleanup
        if (undoFailures.length > 0 || lost) this.o.journal.setStatus(op, 'undoing');
        else this.o.journal.setStatus(op, 'undone', errorJson(err));
        log.warn(
          { err: (err as Error).message, code: (err as { code?: string }).code, undoFailures: undoFailures.length },
          'create failed; finished steps undone',
        );
        // not undone completely: a copy may remain here until recovery has removed it
        if (undoFailures.length > 0 || lost) throw new CreateUnsettledError(spec.id, (err as Error).message);
        throw extra.volumes?.length && this.o.volumes
          ? this.o.volumes.explainStartFailure(spec.id, extra.volumes, err)
          : err;
      }
      this.o.journal.setStatus(op, 'done');
      log.info({ start }, 'VM created');
      return this.refresh(spec.id);
    });
    // the deploy's caller (the controller) records where each volume was attached
    return attached.length > 0 ? { ...view, volumes: attached } : view;
  }

  /**
   * Takes over a domain this host's agent defined but has no record of (its database was lost, or a
   * create was cut between define and record): the spec must hash to the one in the domain metadata.
   */
  async adopt(input: unknown, key: string | undefined): Promise<VmView> {
    const spec = validate(VmSpec, input, 'VM spec');
    const log = this.o.log.child({ vm: spec.id, vmName: spec.name, key });
    return this.locks.run(spec.id, async () => {
      const existing = this.o.db.get(spec.id);
      if (existing) {
        if (existing.specHash === specHash(spec)) return this.refresh(spec.id);
        throw new VmExistsError(spec.id, 'agent');
      }
      const meta = await this.metadataOf(spec.id);
      if (!meta || meta.host !== this.o.hostId) throw new VmNotFoundError(spec.id);
      if (meta.specHash && meta.specHash !== specHash(spec)) {
        throw new ValidationError(`the spec does not match the one domain ${domainName(spec.id)} was created from`, {
          expected: meta.specHash,
          got: specHash(spec),
        });
      }
      return this.adoptLocked(spec, key ?? meta.key, log);
    });
  }

  /** `start`: a deploy that adopts the domain it made also finishes it (starts it, if it asked to). */
  private async adoptLocked(spec: VmSpec, key: string | undefined, log: Logger, start?: boolean): Promise<VmView> {
    const d = await this.o.conn.getDomain(spec.id);
    const hostSpec = this.o.network ? await this.o.network.prepareSpec(spec) : spec;
    const run = d.active || start === true;
    this.o.db.insert(hostSpec, run ? 'running' : 'stopped', { key, specHash: specHash(spec) });
    await this.o.network?.reapply(hostSpec);
    if (run && !d.active) await this.o.conn.startDomain(spec.id);
    log.warn({ state: d.state, start: run && !d.active }, 'domain without a record adopted');
    this.emit('adopted', spec.id);
    return this.refresh(spec.id);
  }

  /** Defines the domain again from the recorded spec (it vanished from libvirt). */
  async redefine(r: VmRecord): Promise<void> {
    await this.o.conn.defineDomain(this.domainXml(r.spec, { key: r.key, specHash: r.specHash }));
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

  async delete(id: string, key?: string): Promise<void> {
    const log = this.o.log.child({ vm: id, key });
    await this.locks.run(id, async () => {
      const open = this.o.journal.openFor(id);
      if (open) throw new OperationPendingError(id, open.kind);
      const rec = this.o.db.get(id);
      if (!rec) throw new VmNotFoundError(id);
      const op = this.o.journal.begin('delete', id, key, { spec: rec.spec });
      // from here on a crash is finished by recovery: a delete is never undone
      await this.removeEverything(id, rec.spec, op);
      this.o.journal.setStatus(op, 'done');
      log.info('VM deleted');
    });
    this.emit('removed', id);
  }

  /**
   * Removes every trace of VM `id` on this host, each step idempotent: the domain (destroyed,
   * undefined), its console log, overlays, volume sessions, firewall rules and context CD-ROM, and
   * its record. Used by delete, by the undo of an interrupted create and by orphan removal. The
   * caller holds the VM's lock.
   */
  async removeEverything(id: string, spec: VmSpec | undefined, op?: Operation): Promise<void> {
    if (await this.domainExists(id)) {
      const d = await this.o.conn.getDomain(id);
      if (d.active) await this.o.conn.destroyDomain(id);
      await this.o.conn.undefineDomain(id);
    }
    if (op) this.o.journal.step(op, 'undefine');
    await removeFile(this.consoleLogPath(id));
    await this.o.disks?.remove(id);
    if (op) this.o.journal.step(op, 'disks-removed');
    await this.o.volumes?.releaseVm(id);
    if (spec) await this.o.network?.releaseVm(spec);
    this.o.db.delete(id);
  }
}

function errorJson(err: unknown): Operation['error'] {
  return asStratusError(err).toJSON();
}
