// Moving a VM between hosts, the agent's side. The controller orchestrates three steps:
//   target `migrate.prepare`  records the incoming VM (table vm_incoming, not yet a VM of this host, so the
//                             reconciler never defines or starts it), installs its firewall rules, fetches
//                             and verifies its base images, creates empty overlays on them, and answers the
//                             destination domain XML and its migration URIs;
//   source `migrate.perform`  migrates peer to peer (virDomainMigrateToURI3: PERSIST_DEST | UNDEFINE_SOURCE,
//                             live for a running VM, the overlays copied incrementally over NBD), then
//                             removes what the VM held here (overlays, rules, console log, record). A stopped
//                             VM is started paused for the copy and stays paused on the target;
//   target `migrate.finish`   turns the incoming record into a VM of this host (a cold move is stopped
//                             there), or `migrate.abort` undoes the preparation when nothing arrived.
// libvirt keeps the domain running on the source when a migration fails, so a failure anywhere leaves
// the VM where it was; abort refuses to remove anything while a domain of that VM exists on the target.
//
// When libvirt itself is lost mid-move (libvirtd killed on either side) the outcome is a question, not an
// answer. The source journals each perform ('migrate-out', agent/vm/journal.ts), so neither its reconciler
// nor a restart ever defines or starts the VM again while the move is in doubt. After the failure it looks
// at its own domain once libvirt is back: gone means the VM moved (what it held here is released); running
// (libvirt cancelled the move and resumed it) means it stayed; paused (libvirt stopped between the target's
// finish and the source's confirm) is answered "unknown" and stays journaled until `migrate.settle` says
// what the target found, or the domain's fate becomes clear on a later look. The target knows a move
// completed when the incoming domain is persistent (libvirt defines it only at the migration's finish);
// a completed move nobody finished (the controller died, its finish was lost) is finished by the target
// itself, and a preparation whose VM never came is removed once the migration timeout has passed.

import type { Logger } from 'pino';
import { asStratusError, StratusError, ValidationError } from '../../common/errors.ts';
import { Reverter } from '../../common/reverter.ts';
import { type Db, migrate } from '../../common/sqlite.ts';
import { removeFile } from '../../drivers/host-fs.ts';
import { LibvirtDisconnectedError, LibvirtError, type LibvirtConnection } from '../../drivers/libvirt/index.ts';
import type { MigratingVolume, MigrationTarget, VolumePlacement } from '../../protocol/migration.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import { VmExistsError, VmNotFoundError } from '../errors.ts';
import type { InstanceDisks } from '../images/instance-disks.ts';
import type { VmNetwork } from '../network/vm-network.ts';
import type { VolumeAttacher } from '../volumes/attacher.ts';
import type { Operation } from './journal.ts';
import type { AgentStateDb } from './state-db.ts';
import { checkSpecOnHost } from './vm-checks.ts';
import type { VmService } from './vm-service.ts';

export interface MigrationSettings {
  /** libvirt URI other hosts' libvirtd use to reach this host's. */
  peerUri: string;
  /** Where QEMU on other hosts sends migration data for this host. */
  migrateUri: string;
  downtimeMs: number;
  bandwidthMiBs: number;
  autoConverge: boolean;
  timeoutMs: number;
}

export interface MigrationOptions {
  conn: LibvirtConnection;
  db: AgentStateDb;
  vms: VmService;
  log: Logger;
  hostId: string;
  settings: MigrationSettings;
  disks?: InstanceDisks;
  network?: VmNetwork;
  /** Why a VM cannot move (snapshots), or undefined when it can. */
  refusal?: (vmId: string) => Promise<string | undefined>;
  /** Attached volumes: the source says where they are; the target opens them; both release them. */
  volumes?: Pick<VolumeAttacher, 'placements' | 'prepareIncoming' | 'releaseVm'>;
}

export interface MigrationResult {
  vm: string;
  target: string;
  live: boolean;
  durationMs: number;
  /** Bytes of memory and disk sent, and the guest's pause at the switch-over (libvirt's statistics). */
  dataBytes?: number;
  downtimeMs?: number;
}

export class MigrationRefusedError extends StratusError {
  constructor(vm: string, reason: string) {
    super('STRATUS_ERR_MIGRATION_REFUSED', `VM ${vm} cannot be migrated: ${reason}`, {
      status: 409,
      details: { vm, reason },
    });
  }
}

export class MigrationFailedError extends StratusError {
  constructor(vm: string, target: string, message: string) {
    super('STRATUS_ERR_MIGRATION_FAILED', `migration of VM ${vm} to ${target} failed: ${message}; it stays here`, {
      status: 502,
      details: { vm, target },
    });
  }
}

/** libvirt was lost mid-move: whether the VM left is settled when the target has answered (`migrate.settle`). */
export class MigrationOutcomeUnknownError extends StratusError {
  constructor(vm: string, target: string, message: string) {
    super(
      'STRATUS_ERR_MIGRATION_OUTCOME_UNKNOWN',
      `migration of VM ${vm} to ${target} was interrupted (${message}); whether it moved is not known here yet`,
      { status: 503, details: { vm, target, transient: true } },
    );
  }
}

/** How often the target looks at the VMs it is receiving (completed moves nobody finished, stale ones). */
const INCOMING_WATCH_MS = 5_000;
/** How long the source waits for libvirt to come back before answering that the outcome is unknown. */
const RECONNECT_WAIT_MS = 45_000;

const MIGRATIONS = [
  `CREATE TABLE vm_incoming (
     id TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     source TEXT NOT NULL,
     created_at INTEGER NOT NULL
   )`,
  // the disk XML of the incoming VM's volumes (JSON array), part of the destination domain
  `ALTER TABLE vm_incoming ADD COLUMN volume_disks TEXT NOT NULL DEFAULT '[]'`,
  // 1 for a live move, 0 for a cold one, NULL when the controller did not say
  'ALTER TABLE vm_incoming ADD COLUMN live INTEGER',
];

/** Waits for every promise (so no undo is registered after a revert), then throws the first failure. */
async function allSettledOrThrow<T extends readonly unknown[]>(
  ps: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(ps);
  const failed = settled.find((x) => x.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return settled.map((x) => (x as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}

/** The destination domain XML: the spec's, plus the disks of the VM's volumes. */
function withDisks(domainXml: string, disks: string[]): string {
  return disks.length === 0 ? domainXml : domainXml.replace(/<\/devices>/, `${disks.join('\n')}\n</devices>`);
}

const notFound = (err: unknown) => err instanceof LibvirtError && err.virCode === 42;

export class VmMigration {
  private readonly db: Db;
  /** VMs whose migration job runs now (cancel does not wait for the VM's lock, which perform holds). */
  private readonly running = new Set<string>();
  /** Incoming VMs seen arrived (persistent domain) at the last look of the watch. */
  private readonly seenArrived = new Set<string>();
  private watchTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: MigrationOptions) {
    this.db = o.db.db;
    migrate(this.db, 'migration', MIGRATIONS);
  }

  /** Starts the target's watch over incoming VMs (after `recover`). */
  startWatch(): void {
    if (this.watchTimer) return;
    this.watchTimer = setInterval(() => void this.watchIncoming(), INCOMING_WATCH_MS);
    this.watchTimer.unref();
  }

  stopWatch(): void {
    clearInterval(this.watchTimer);
    this.watchTimer = undefined;
  }

  /** Specs of the VMs being received (the reconciler leaves their domains and rules alone). */
  incomingSpecs(): VmSpec[] {
    return (this.db.prepare('SELECT spec FROM vm_incoming').all() as { spec: string }[]).map(
      (r) => JSON.parse(r.spec) as VmSpec,
    );
  }

  private incoming(
    id: string,
  ): { spec: VmSpec; source: string; volumeDisks: string[]; live: boolean | undefined; createdAt: number } | undefined {
    const r = this.db
      .prepare('SELECT spec, source, volume_disks, live, created_at FROM vm_incoming WHERE id = ?')
      .get(id) as
      | { spec: string; source: string; volume_disks: string; live: number | null; created_at: number }
      | undefined;
    return (
      r && {
        spec: JSON.parse(r.spec) as VmSpec,
        source: r.source,
        volumeDisks: JSON.parse(r.volume_disks) as string[],
        live: r.live === null ? undefined : r.live === 1,
        createdAt: r.created_at,
      }
    );
  }

  private async domainExists(id: string): Promise<boolean> {
    try {
      await this.o.conn.getDomain(id);
      return true;
    } catch (err) {
      if (notFound(err)) return false;
      throw err;
    }
  }

  /**
   * Source side, before anything is prepared elsewhere: the VM's spec as the controller gave it (without
   * what this host added: its copy of the context CD-ROM), its power state, or why it cannot move.
   */
  async check(id: string): Promise<{ spec: VmSpec; state: string; refusal?: string; volumes?: VolumePlacement[] }> {
    const rec = this.o.db.get(id);
    if (!rec) throw new VmNotFoundError(id);
    const refusal = await this.o.refusal?.(id);
    const d = await this.o.conn.getDomain(id);
    const spec = this.o.network ? this.o.network.unprepareSpec(rec.spec) : rec.spec;
    const volumes = (await this.o.volumes?.placements(id)) ?? [];
    return { spec, state: d.state, ...(refusal ? { refusal } : {}), ...(volumes.length ? { volumes } : {}) };
  }

  /** Target side: everything the VM needs here except its domain; answers where to send it. */
  async prepare(
    input: VmSpec,
    source: string,
    volumes: MigratingVolume[] = [],
    live?: boolean,
  ): Promise<{ destXml: string; peerUri: string; migrateUri: string }> {
    const log = this.o.log.child({ vm: input.id, source });
    return this.o.vms.locks.run(input.id, async () => {
      if (this.o.db.get(input.id)) throw new VmExistsError(input.id, 'agent');
      const again = this.incoming(input.id);
      if (!again && (await this.domainExists(input.id))) throw new VmExistsError(input.id, 'libvirt');
      let spec = again?.spec ?? input;
      let volumeDisks = again?.volumeDisks ?? [];
      if (volumes.length > 0 && !this.o.volumes) throw new ValidationError('this agent cannot attach volumes');
      if (!again) {
        const r = new Reverter();
        try {
          // recorded first: after a crash at any later step, recovery finds the row and aborts the
          // preparation (context CD-ROM, rules, disks and volume secrets are all found from the VM's id)
          this.db
            .prepare('INSERT INTO vm_incoming (id, spec, source, created_at, live) VALUES (?, ?, ?, ?, ?)')
            .run(input.id, JSON.stringify(input), source, Date.now(), live === undefined ? null : live ? 1 : 0);
          r.add('forget incoming VM', () => this.db.prepare('DELETE FROM vm_incoming WHERE id = ?').run(input.id));
          // the context CD-ROM and rules, the disks and the volumes do not depend on each other: made at once
          const [prepared, , disks] = await allSettledOrThrow([
            (async () => {
              if (this.o.network) r.add('remove context CD-ROM and rules', () => this.o.network!.releaseVm(input));
              const s = this.o.network ? await this.o.network.prepareSpec(input) : input;
              await checkSpecOnHost(s, this.o.hostId);
              await this.o.network?.installForVm(s, r);
              return s;
            })(),
            this.o.disks ? this.o.disks.prepare(input, r, log) : Promise.resolve(),
            volumes.length > 0 ? this.o.volumes!.prepareIncoming(input.id, volumes, r) : Promise.resolve([]),
          ]);
          spec = prepared;
          volumeDisks = disks;
          this.db
            .prepare('UPDATE vm_incoming SET spec = ?, volume_disks = ? WHERE id = ?')
            .run(JSON.stringify(spec), JSON.stringify(volumeDisks), spec.id);
          r.commit();
        } catch (err) {
          await r.revert();
          throw err;
        }
        log.info('ready to receive the VM');
      }
      return {
        destXml: withDisks(this.o.vms.domainXml(spec), volumeDisks),
        peerUri: this.o.settings.peerUri,
        migrateUri: this.o.settings.migrateUri,
      };
    });
  }

  /** Target side: the domain arrived; it becomes a VM of this host (a cold move is left stopped). */
  async finish(
    id: string,
    desired: 'running' | 'stopped',
  ): Promise<{ vm: string; state: string; downtimeMs?: number }> {
    return this.o.vms.locks.run(id, async () => {
      const inc = this.incoming(id);
      if (!inc) return { vm: id, state: this.o.vms.get(id).state };
      // the domain and the completed job's statistics, asked at once
      const [d, stats] = await Promise.all([
        this.o.conn.getDomain(id).catch((err) => {
          if (notFound(err)) throw new ValidationError(`VM ${id} has not arrived on this host`);
          throw err;
        }),
        this.o.conn.jobStats(id, true).catch(() => undefined), // informative only
      ]);
      const p = stats?.params ?? {};
      const downtimeMs = typeof p['downtime'] === 'number' ? p['downtime'] : undefined;
      // what the move cost, for the admin's log (libvirt's names)
      const job = Object.fromEntries(
        ['time_elapsed', 'memory_processed', 'memory_iteration', 'memory_dirty_rate', 'disk_processed']
          .filter((k) => p[k] !== undefined)
          .map((k) => [k, p[k]]),
      );
      if (desired === 'stopped' && d.active) await this.o.conn.destroyDomain(id);
      this.db.transaction(() => {
        this.o.db.insert(inc.spec, desired);
        this.db.prepare('DELETE FROM vm_incoming WHERE id = ?').run(id);
      })();
      this.o.log.info({ vm: id, source: inc.source, desired, downtimeMs, job }, 'VM received');
      const state = desired === 'stopped' && d.active ? (await this.o.conn.getDomain(id)).state : d.state;
      this.o.vms.observe(id, state);
      return { vm: id, state, ...(downtimeMs !== undefined ? { downtimeMs } : {}) };
    });
  }

  /**
   * Target side: the migration did not happen; removes the preparation. Never removes a domain: one that
   * is defined here (the move completed) is answered `arrived`; one still transient (the move is still
   * running, or libvirt is cleaning it up) is refused, to be asked again.
   */
  async abort(id: string): Promise<{ aborted: boolean; arrived?: boolean }> {
    return this.o.vms.locks.run(id, async () => {
      const inc = this.incoming(id);
      if (!inc) return this.o.db.get(id) ? { aborted: false, arrived: true } : { aborted: false };
      const d = await this.o.conn.getDomain(id).catch((err) => {
        if (notFound(err)) return undefined;
        throw err;
      });
      if (d?.persistent) return { aborted: false, arrived: true };
      if (d) {
        throw new MigrationRefusedError(id, 'its domain exists on this host: the migration is still running');
      }
      await this.o.volumes?.releaseVm(id);
      await this.o.network?.releaseVm(inc.spec);
      await this.o.disks?.remove(id);
      await removeFile(this.o.vms.consoleLogPath(id));
      this.db.prepare('DELETE FROM vm_incoming WHERE id = ?').run(id);
      this.o.log.info({ vm: id }, 'incoming migration aborted; preparation removed');
      return { aborted: true };
    });
  }

  /**
   * Target side, at start: preparations whose domain never arrived are removed; a domain that did arrive
   * (the migration completed while this agent was down, so nobody finished it) becomes a VM of this host,
   * running if it runs (a live move), else stopped (a cold move arrives paused).
   */
  async recover(): Promise<void> {
    const rows = this.db.prepare('SELECT id FROM vm_incoming').all() as { id: string }[];
    for (const { id } of rows) {
      try {
        if (!(await this.domainExists(id))) await this.abort(id);
        else {
          const d = await this.o.conn.getDomain(id);
          const live = this.incoming(id)?.live;
          const r = await this.finish(id, (live ?? d.state === 'running') ? 'running' : 'stopped');
          this.o.log.warn({ vm: id, state: r.state }, 'a migration completed while this agent was down: VM received');
        }
      } catch (err) {
        this.o.log.error({ vm: id, err: (err as Error).message }, 'an interrupted incoming migration is not settled');
      }
    }
  }

  /**
   * Target side, every few seconds: a move that completed (its domain defined here, seen so at two looks)
   * and that nobody finished is finished here; a preparation whose VM never came is removed once the
   * migration timeout is well past.
   */
  private async watchIncoming(): Promise<void> {
    const rows = this.db.prepare('SELECT id FROM vm_incoming').all() as { id: string }[];
    for (const id of [...this.seenArrived]) if (!rows.some((r) => r.id === id)) this.seenArrived.delete(id);
    if (rows.length === 0 || !this.o.conn.connected) return;
    for (const { id } of rows) {
      if (this.o.vms.locks.isLocked(id)) continue;
      try {
        const inc = this.incoming(id);
        if (!inc) continue;
        const d = await this.o.conn.getDomain(id).catch((err) => {
          if (notFound(err)) return undefined;
          throw err;
        });
        if (!d) {
          if (Date.now() - inc.createdAt > 2 * this.o.settings.timeoutMs + 60_000) {
            this.o.log.warn({ vm: id, source: inc.source }, 'an incoming VM never arrived; removing its preparation');
            await this.abort(id);
          }
          continue;
        }
        // a live move is complete when its domain is defined and runs; a cold one arrives defined and paused
        const arrived = d.persistent && (inc.live === false ? d.state === 'paused' : d.state === 'running');
        if (!arrived) {
          this.seenArrived.delete(id);
          continue;
        }
        if (!this.seenArrived.has(id)) {
          this.seenArrived.add(id);
          continue;
        }
        this.seenArrived.delete(id);
        const r = await this.finish(id, inc.live === false ? 'stopped' : 'running');
        this.o.log.warn(
          { vm: id, source: inc.source, state: r.state },
          'a completed migration nobody finished: VM received',
        );
      } catch (err) {
        this.o.log.debug({ vm: id, err: (err as Error).message }, 'incoming VM not settled at this look');
      }
    }
  }

  /**
   * Source side: where the VM is after its migration call failed. libvirt's own answer (the connection
   * held) keeps the domain here; after a lost connection the domain is looked at once libvirt is back.
   */
  private async whereAfterFailure(id: string, err: unknown): Promise<'here' | 'gone' | 'unknown'> {
    const lost =
      err instanceof LibvirtDisconnectedError ||
      (err instanceof LibvirtError && err.connectionLost) ||
      !this.o.conn.connected;
    const end = Date.now() + (lost ? RECONNECT_WAIT_MS : 5_000);
    for (;;) {
      try {
        const d = await this.o.conn.getDomain(id);
        if (!lost) return 'here';
        return d.state === 'running' || !d.active ? 'here' : 'unknown';
      } catch (e) {
        if (notFound(e)) return 'gone';
        if (Date.now() > end) return 'unknown';
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /**
   * Source side: a migration in doubt here is settled as the target found it. Moved: every trace of the
   * VM here goes (a paused copy is destroyed, never resumed). Stayed: a paused copy is resumed (live moves)
   * and the VM is this host's again. Without an open migration of the VM: nothing to do.
   */
  async settle(id: string, moved: boolean): Promise<{ settled: boolean; state?: string }> {
    return this.o.vms.locks.run(id, async () => {
      const op = this.o.vms.journal.openFor(id);
      if (op?.kind !== 'migrate-out') return { settled: false };
      return this.settleOut(op, moved);
    });
  }

  /**
   * Settles an open 'migrate-out' entry (the caller holds the VM's lock). `moved` undefined: from what
   * this host sees alone (recovery after a restart): gone = moved, running or shut off = stayed; false
   * when it cannot tell (a paused copy: only the target knows).
   */
  async settleOut(op: Operation, moved?: boolean): Promise<{ settled: boolean; state?: string }> {
    const log = this.o.log.child({ vm: op.vm, op: op.id, target: op.data['target'] });
    const d = await this.o.conn.getDomain(op.vm).catch((err) => {
      if (notFound(err)) return undefined;
      throw err;
    });
    let isMoved = moved ?? (d === undefined ? true : d.state === 'running' || !d.active ? false : undefined);
    if (moved === undefined && isMoved === false) {
      // a running domain whose migration job still runs (this agent restarted mid-move): not yet known
      const job = await this.o.conn.jobStats(op.vm).catch(() => undefined);
      if (job && (job.type === 1 || job.type === 2)) isMoved = undefined;
    }
    if (isMoved === undefined) return { settled: false };
    if (isMoved) {
      await this.o.vms.removeEverything(op.vm, this.o.db.get(op.vm)?.spec, op);
      this.o.vms.journal.setStatus(op, 'done');
      log.warn({ leftover: d?.state ?? 'none' }, 'migration in doubt settled: the VM moved; released here');
      this.o.vms.emit('removed', op.vm);
      return { settled: true };
    }
    if (!d) {
      // neither here nor there: the disks here are all that is left; the reconciler defines it again
      this.o.vms.journal.setStatus(op, 'undone');
      log.error('migration in doubt: the target has nothing and the domain is gone here');
      return { settled: true, state: 'missing' };
    }
    if (d.state === 'paused' && op.data['live'] !== false) await this.o.conn.resumeDomain(op.vm);
    else if (op.data['live'] === false && d.active) await this.o.conn.destroyDomain(op.vm);
    this.o.vms.journal.setStatus(op, 'undone');
    const now = await this.o.conn.getDomain(op.vm);
    this.o.vms.observe(op.vm, now.state);
    log.warn({ state: now.state }, 'migration in doubt settled: the VM stayed here');
    return { settled: true, state: now.state };
  }

  /** Source side: stops the running migration of `id` (libvirt resumes the VM here); false when none runs. */
  async cancel(id: string): Promise<{ cancelled: boolean }> {
    if (!this.running.has(id)) return { cancelled: false };
    await this.o.conn.abortJob(id);
    this.o.log.info({ vm: id }, 'migration cancelled on request');
    return { cancelled: true };
  }

  /** Source side: moves the VM to `target`; on success nothing of it is left here. */
  async perform(
    id: string,
    target: MigrationTarget,
    progress: (step: string, pct?: number) => void = () => undefined,
    bandwidthMiBs?: number,
    key?: string,
  ): Promise<MigrationResult> {
    const log = this.o.log.child({ vm: id, target: target.host });
    return this.o.vms.locks.run(id, async () => {
      const rec = this.o.db.get(id);
      if (!rec) throw new VmNotFoundError(id);
      const refusal = await this.o.refusal?.(id);
      if (refusal) throw new MigrationRefusedError(id, refusal);
      const d = await this.o.conn.getDomain(id);
      const live = d.active;
      if (live && d.state !== 'running' && d.state !== 'paused')
        throw new MigrationRefusedError(id, `its domain is ${d.state}`);
      // overlays are copied (only their own layer: the target made them on the same base); shared volumes,
      // read-only images and CD-ROMs are not
      const overlayDir = this.o.disks?.vmDir(id);
      // the migratable XML: its disks as they are, and the machine type and CPU the domain runs with
      const sourceXml = await this.o.conn.domainXml(id, { migratable: true });
      const disks = overlayDir ? overlayTargets(sourceXml, overlayDir) : [];
      // file volumes: on the site's shared filesystem (the controller's file_dir), opened by the target as
      // they are; libvirt cannot tell a shared directory from a local one on every filesystem
      const shared = overlayDir ? sharedFileDisks(sourceXml, overlayDir) : [];
      // the guest's ABI must not change: the machine type and CPU the domain runs with here
      const destXml = sameAbi(target.destXml, sourceXml);
      const s = this.o.settings;
      const bandwidth = bandwidthMiBs ?? s.bandwidthMiBs;
      const started = Date.now();
      const journal = this.o.vms.journal;
      const open = journal.openFor(id);
      if (open) throw new MigrationRefusedError(id, `an earlier ${open.kind} of it is not settled yet`);
      // from here until the move is settled, nothing on this host defines or starts the VM again
      const op = journal.begin('migrate-out', id, key, { target: target.host, live });
      if (!live) {
        try {
          await this.o.conn.startDomainPaused(id);
        } catch (err) {
          journal.setStatus(op, 'undone', asStratusError(err).toJSON());
          throw err;
        }
        progress('started paused to copy the disks', 1);
      }
      await this.o.conn.setMigrationMaxDowntime(id, s.downtimeMs).catch((err) => {
        log.warn({ err: (err as Error).message }, 'cannot set the downtime limit');
      });
      const poll = setInterval(() => {
        this.o.conn.jobStats(id).then(
          (j) => {
            const p = j.params;
            const total = Number(p['data_total'] ?? 0);
            const done = Number(p['data_processed'] ?? 0);
            if (total > 0) progress('migrating', Math.min(99, (100 * done) / total));
          },
          () => undefined,
        );
      }, 500);
      const deadline = setTimeout(() => {
        log.warn({ timeoutMs: s.timeoutMs }, 'migration took too long; cancelling it');
        this.o.conn.abortJob(id).catch(() => undefined);
      }, s.timeoutMs);
      this.running.add(id);
      try {
        await this.o.conn.migrate(
          id,
          target.peerUri,
          {
            destXml,
            migrateUri: target.migrateUri,
            disks,
            ...(bandwidth > 0 ? { bandwidthMiBs: bandwidth } : {}),
          },
          { live, paused: !live, autoConverge: s.autoConverge, sharedStorageDeclared: shared.length > 0 },
        );
      } catch (err) {
        this.running.delete(id);
        clearInterval(poll);
        clearTimeout(deadline);
        const msg = (err as Error).message;
        const where = await this.whereAfterFailure(id, err);
        if (where === 'unknown') {
          log.error({ err: msg }, 'migration interrupted; whether the VM moved is not known here yet');
          throw new MigrationOutcomeUnknownError(id, target.host, msg);
        }
        if (where === 'here') {
          if (!live) await this.o.conn.destroyDomain(id).catch(() => undefined);
          const failed = new MigrationFailedError(id, target.host, msg);
          journal.setStatus(op, 'undone', failed.toJSON());
          log.warn({ err: msg }, 'migration failed; the VM stays here');
          throw failed;
        }
        log.warn({ err: msg }, 'the migration call failed, but the domain left this host: the VM moved');
      } finally {
        this.running.delete(id);
        clearInterval(poll);
        clearTimeout(deadline);
      }
      const durationMs = Date.now() - started;
      // the domain is on the target now (libvirt undefined it here): release what it held on this host
      if (await this.domainExists(id)) log.error('domain still defined here after a successful migration');
      await this.o.vms.removeEverything(id, rec.spec, op);
      journal.setStatus(op, 'done');
      log.info({ live, durationMs, disks, shared }, 'VM migrated away');
      progress('migrated', 100);
      return { vm: id, target: target.host, live, durationMs };
    });
  }
}

/**
 * `destXml` with the machine type and CPU of the running source domain (its migratable XML): libvirt
 * compares the two for ABI stability, and a restarted libvirtd reports the expanded machine name (pc-i440fx-7.2)
 * of the spec's alias (pc) and the CPU model it chose for a spec without one.
 */
export function sameAbi(destXml: string, sourceXml: string): string {
  let out = destXml;
  const machine = /<type\b[^>]*\smachine='([^']+)'/.exec(sourceXml)?.[1];
  if (machine) out = out.replace(/(<type\b[^>]*\smachine=)'[^']*'/, (_m, head: string) => `${head}'${machine}'`);
  const cpuRe = /<cpu\b[^>]*\/>|<cpu\b[^>]*>[\s\S]*?<\/cpu>/;
  const cpu = cpuRe.exec(sourceXml)?.[0];
  if (cpu)
    out = cpuRe.test(out) ? out.replace(cpuRe, () => cpu) : out.replace(/<\/features>/, () => `</features>\n  ${cpu}`);
  return out;
}

/** The file-backed `device='disk'` disks of a domain: target dev, source path, read-only or not. */
function fileDisks(domainXml: string): { dev: string; src: string; readonly: boolean }[] {
  const out: { dev: string; src: string; readonly: boolean }[] = [];
  for (const m of domainXml.matchAll(/<disk\b[^>]*device='disk'[^>]*>([\s\S]*?)<\/disk>/g)) {
    const body = m[1] ?? '';
    const src = /<source file='([^']+)'/.exec(body)?.[1];
    const dev = /<target dev='([^']+)'/.exec(body)?.[1];
    if (src && dev) out.push({ dev, src, readonly: /<readonly\/>/.test(body) });
  }
  return out;
}

/** Target devs of the writable file disks outside `dir`: file volumes, on storage every host shares. */
export function sharedFileDisks(domainXml: string, dir: string): string[] {
  return fileDisks(domainXml)
    .filter((d) => !d.readonly && !d.src.startsWith(`${dir}/`))
    .map((d) => d.dev);
}

/** Target devs of the file disks whose source lies in `dir` (the VM's overlays). */
export function overlayTargets(domainXml: string, dir: string): string[] {
  return fileDisks(domainXml)
    .filter((d) => !d.readonly && d.src.startsWith(`${dir}/`))
    .map((d) => d.dev);
}
