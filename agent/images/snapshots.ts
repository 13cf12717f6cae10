// VM snapshots through libvirt's snapshot API: create (running: disks and memory; stopped: disks),
// list, revert, delete. qcow2 internal snapshots live inside the VM's disks; their libvirt metadata is
// also kept in the agent database, so that a snapshot survives an agent restart and, should libvirt
// lose the metadata (domain redefined), is restored from it. Create, revert and delete are journaled
// (agent/vm/journal.ts, kind 'snapshot') so that recovery (agent/images/image-recovery.ts) finishes or
// undoes one cut by a crash.

import type { Logger } from 'pino';
import { migrate } from '../../common/sqlite.ts';
import { xmlEscape } from '../../common/xml.ts';
import { LibvirtError, type LibvirtConnection, type SnapshotDesc } from '../../drivers/libvirt/index.ts';
import { DiskOperationError, SnapshotExistsError, SnapshotNotFoundError } from './errors.ts';
import { OperationPendingError } from '../errors.ts';
import type { Operation } from '../vm/journal.ts';
import type { AgentStateDb } from '../vm/state-db.ts';
import type { VmService } from '../vm/vm-service.ts';
import type { SnapshotView } from '../../protocol/image.ts';

const MIGRATIONS = [
  `CREATE TABLE vm_snapshots (
     vm_id TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     description TEXT NOT NULL DEFAULT '',
     state TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     xml TEXT NOT NULL,
     PRIMARY KEY (vm_id, name)
   )`,
];

export type { SnapshotView };

interface Row {
  vm_id: string;
  name: string;
  description: string;
  state: string;
  created_at: number;
  xml: string;
}

const tag = (xml: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
const xmlUnescape = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');

export interface SnapshotServiceOptions {
  conn: LibvirtConnection;
  state: AgentStateDb;
  vms: VmService;
  log: Logger;
}

export class SnapshotService {
  constructor(private readonly o: SnapshotServiceOptions) {
    migrate(o.state.db, 'snapshots', MIGRATIONS);
  }

  private rows(vmId: string): Row[] {
    return this.o.state.db
      .prepare('SELECT * FROM vm_snapshots WHERE vm_id = ? ORDER BY created_at, name')
      .all(vmId) as Row[];
  }

  record(vmId: string, d: SnapshotDesc): Row {
    const row: Row = {
      vm_id: vmId,
      name: d.name,
      description: xmlUnescape(tag(d.xml, 'description') ?? ''),
      state: tag(d.xml, 'state') ?? 'unknown',
      created_at: Number(tag(d.xml, 'creationTime') ?? 0) * 1000 || Date.now(),
      xml: d.xml,
    };
    this.o.state.db
      .prepare(
        `INSERT INTO vm_snapshots (vm_id, name, description, state, created_at, xml) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (vm_id, name) DO UPDATE SET xml = excluded.xml, state = excluded.state`,
      )
      .run(row.vm_id, row.name, row.description, row.state, row.created_at, row.xml);
    return row;
  }

  view(r: Row, current: boolean): SnapshotView {
    return { vm: r.vm_id, name: r.name, description: r.description, state: r.state, createdAt: r.created_at, current };
  }

  /**
   * libvirt's snapshots of the VM, reconciled with the database: metadata libvirt lost is redefined
   * from the recorded XML; snapshots made outside Stratus are recorded.
   */
  async reconcile(vmId: string): Promise<SnapshotView[]> {
    const live = new Map((await this.o.conn.listSnapshots(vmId)).map((d) => [d.name, d]));
    const out: SnapshotView[] = [];
    const rows = this.rows(vmId);
    // parents first: creation order
    for (const r of rows) {
      if (live.has(r.name)) continue;
      try {
        live.set(r.name, await this.o.conn.createSnapshot(vmId, r.xml, { redefine: true }));
        this.o.log.warn({ vm: vmId, snapshot: r.name }, 'snapshot metadata restored in libvirt');
      } catch (err) {
        this.o.log.error(
          { vm: vmId, snapshot: r.name, err: (err as Error).message },
          'cannot restore snapshot metadata',
        );
      }
    }
    const known = new Set(rows.map((r) => r.name));
    for (const r of rows) {
      const d = live.get(r.name);
      if (d) out.push(this.view(r, d.current));
    }
    for (const d of live.values()) if (!known.has(d.name)) out.push(this.view(this.record(vmId, d), d.current));
    return out.sort((a, b) => a.createdAt - b.createdAt || a.name.localeCompare(b.name));
  }

  async list(vmId: string): Promise<SnapshotView[]> {
    this.o.vms.get(vmId);
    return this.o.vms.locks.run(vmId, () => this.reconcile(vmId));
  }

  /** Runs a journaled snapshot operation under the VM's lock (refused while another is unsettled). */
  private journaled<T>(
    vmId: string,
    key: string | undefined,
    data: Record<string, unknown>,
    check: () => Promise<unknown>,
    fn: (op: Operation) => Promise<T>,
  ): Promise<T> {
    const journal = this.o.vms.journal;
    return this.o.vms.locks.run(vmId, async () => {
      const open = journal.openFor(vmId);
      if (open) throw new OperationPendingError(vmId, open.kind);
      await check();
      const op = journal.begin('snapshot', vmId, key, data);
      try {
        const res = await fn(op);
        journal.finish(op, res);
        return res;
      } catch (err) {
        journal.fail(op, err);
        throw err;
      }
    });
  }

  async create(
    vmId: string,
    req: { name?: string | undefined; description?: string | undefined },
    key?: string,
  ): Promise<SnapshotView> {
    const raw = this.o.vms.get(vmId).spec.disks.findIndex((d) => 'path' in d && d.format === 'raw' && !d.readonly);
    if (raw >= 0) {
      throw new DiskOperationError(
        `VM ${vmId} cannot be snapshotted: disk ${raw} is raw (snapshots need qcow2 disks)`,
        {
          disk: raw,
        },
      );
    }
    const name = req.name ?? `snap-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}`;
    const check = async () => {
      if ((await this.reconcile(vmId)).some((s) => s.name === name)) throw new SnapshotExistsError(vmId, name);
    };
    return this.journaled(vmId, key, { action: 'create', name }, check, async (op) => {
      const xml = `<domainsnapshot>
  <name>${xmlEscape(name)}</name>
  <description>${xmlEscape(req.description ?? '')}</description>
</domainsnapshot>`;
      const d = await this.o.conn.createSnapshot(vmId, xml);
      this.o.vms.journal.step(op, 'created');
      const row = this.record(vmId, d);
      this.o.vms.journal.step(op, 'recorded');
      this.o.log.info({ vm: vmId, snapshot: name, state: row.state }, 'snapshot created');
      return this.view(row, d.current);
    });
  }

  async ensure(vmId: string, name: string): Promise<SnapshotView> {
    const snap = (await this.reconcile(vmId)).find((s) => s.name === name);
    if (!snap) throw new SnapshotNotFoundError(vmId, name);
    return snap;
  }

  /**
   * Reverts disks, definition and, for a running snapshot, memory. `state` forces the end state:
   * `running` boots a stopped snapshot, `stopped` leaves a running snapshot powered off.
   */
  async revert(
    vmId: string,
    name: string,
    state: 'snapshot' | 'running' | 'stopped' = 'snapshot',
    key?: string,
  ): Promise<{ reverted: string }> {
    this.o.vms.get(vmId);
    const check = () => this.ensure(vmId, name);
    return this.journaled(vmId, key, { action: 'revert', name, state }, check, (op) =>
      this.revertSteps(vmId, name, state, op),
    );
  }

  /** The steps of a revert; recovery runs them again to finish a cut one (skipping a journaled revert). */
  async revertSteps(
    vmId: string,
    name: string,
    state: 'snapshot' | 'running' | 'stopped',
    op: Operation,
  ): Promise<{ reverted: string }> {
    const snap = await this.ensure(vmId, name);
    if (!this.o.vms.journal.has(op, 'reverted')) {
      await this.o.conn.revertToSnapshot(vmId, name, {
        running: state === 'running',
        // a memory snapshot restarts its domain: paused, then powered off, when asked to stay stopped
        paused: state === 'stopped' && snap.state === 'running',
      });
      this.o.vms.journal.step(op, 'reverted');
    }
    let d = await this.o.conn.getDomain(vmId);
    if (state === 'stopped' && d.active) d = await this.o.conn.destroyDomain(vmId);
    this.o.state.setDesired(vmId, d.active ? 'running' : 'stopped', `reverted to snapshot ${name}`);
    this.o.vms.observe(vmId, d.state);
    this.o.log.info({ vm: vmId, snapshot: name, state: d.state }, 'reverted to snapshot');
    return { reverted: name };
  }

  async delete(vmId: string, name: string, key?: string): Promise<{ deleted: string }> {
    this.o.vms.get(vmId);
    const check = () => this.ensure(vmId, name);
    return this.journaled(vmId, key, { action: 'delete', name }, check, (op) => this.deleteSteps(vmId, name, op));
  }

  /** The steps of a delete, each idempotent (recovery runs them again to finish a cut one). */
  async deleteSteps(vmId: string, name: string, op: Operation): Promise<{ deleted: string }> {
    try {
      await this.o.conn.deleteSnapshot(vmId, name);
    } catch (err) {
      if (!(err instanceof LibvirtError && err.virCode === 72)) throw err; // VIR_ERR_NO_DOMAIN_SNAPSHOT
    }
    this.o.vms.journal.step(op, 'removed');
    this.forget(vmId, name);
    this.o.log.info({ vm: vmId, snapshot: name }, 'snapshot deleted');
    return { deleted: name };
  }

  forget(vmId: string, name: string): void {
    this.o.state.db.prepare('DELETE FROM vm_snapshots WHERE vm_id = ? AND name = ?').run(vmId, name);
  }
}
