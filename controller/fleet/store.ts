// The fleet's state in the controller database (feature 'fleet'): hosts (status, session counter,
// static information), the retained state of every VM, the host event stream (one row per
// host and seq, so replays and redeliveries are never applied twice), and the metrics history.

import type { Db } from '../../common/sqlite.ts';
import { migrate } from '../../common/sqlite.ts';
import type { HostEvent, HostInfo, HostStatus, VmState } from '../../protocol/mqtt/index.ts';

const MIGRATIONS = [
  `CREATE TABLE fleet_hosts (
     id TEXT PRIMARY KEY,
     state TEXT NOT NULL CHECK (state IN ('online', 'offline', 'down')),
     session INTEGER NOT NULL,
     status TEXT NOT NULL,
     info TEXT,
     last_event_seq INTEGER NOT NULL DEFAULT 0,
     last_seen INTEGER NOT NULL,
     changed_at INTEGER NOT NULL
   );
   CREATE TABLE fleet_vms (
     id TEXT PRIMARY KEY,
     host TEXT NOT NULL,
     name TEXT NOT NULL,
     state TEXT NOT NULL,
     desired TEXT NOT NULL,
     body TEXT NOT NULL,
     seq INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX fleet_vms_host ON fleet_vms (host);
   CREATE TABLE fleet_events (
     host TEXT NOT NULL,
     seq INTEGER NOT NULL,
     ts INTEGER NOT NULL,
     kind TEXT NOT NULL,
     severity TEXT NOT NULL,
     message TEXT NOT NULL,
     vm TEXT,
     data TEXT,
     received_at INTEGER NOT NULL,
     PRIMARY KEY (host, seq)
   );
   CREATE INDEX fleet_events_received ON fleet_events (received_at);
   CREATE TABLE fleet_metrics (
     host TEXT NOT NULL,
     vm TEXT NOT NULL,
     res INTEGER NOT NULL,
     ts INTEGER NOT NULL,
     cpu_pct REAL NOT NULL,
     mem_bytes REAL NOT NULL,
     rx_bps REAL NOT NULL,
     tx_bps REAL NOT NULL,
     n INTEGER NOT NULL,
     PRIMARY KEY (host, vm, res, ts)
   ) WITHOUT ROWID;`,
  // compaction selects raw points and deletes old ones by resolution and age: without this index each
  // pass (every minute) scanned the whole history, millions of rows at fleet scale
  `CREATE INDEX fleet_metrics_age ON fleet_metrics (res, ts);`,
];

export type HostState = 'online' | 'offline' | 'down';

export interface HostRow {
  id: string;
  state: HostState;
  session: number;
  status: HostStatus;
  info: HostInfo | undefined;
  lastEventSeq: number;
  lastSeen: number;
  changedAt: number;
}

export interface VmRow {
  id: string;
  host: string;
  name: string;
  state: string;
  desired: string;
  body: VmState;
  seq: number;
  updatedAt: number;
}

export interface MetricPoint {
  host: string;
  /** '' for the host itself. */
  vm: string;
  ts: number;
  cpuPct: number;
  memBytes: number;
  rxBps: number;
  txBps: number;
}

type RawHost = Omit<HostRow, 'status' | 'info' | 'lastEventSeq' | 'lastSeen' | 'changedAt'> & {
  status: string;
  info: string | null;
  last_event_seq: number;
  last_seen: number;
  changed_at: number;
};

/** Parsed JSON of a host column, kept while its text stays the same (read-only for callers). */
interface Parsed<T> {
  raw: string;
  value: T;
}

function parsedOnce<T>(cache: Map<string, Parsed<T>>, id: string, raw: string): T {
  const hit = cache.get(id);
  if (hit?.raw === raw) return hit.value;
  const value = JSON.parse(raw) as T;
  cache.set(id, { raw, value });
  return value;
}

export class FleetStore {
  private readonly st;
  // every host is read for each scheduling pass and host list: parsing its status and info each time
  // cost ~200 ms at 10,000 hosts; they change far less often than they are read
  private readonly statuses = new Map<string, Parsed<HostStatus>>();
  private readonly infos = new Map<string, Parsed<HostInfo>>();

  private toHost(r: RawHost): HostRow {
    return {
      id: r.id,
      state: r.state,
      session: r.session,
      status: parsedOnce(this.statuses, r.id, r.status),
      info: r.info ? parsedOnce(this.infos, r.id, r.info) : undefined,
      lastEventSeq: r.last_event_seq,
      lastSeen: r.last_seen,
      changedAt: r.changed_at,
    };
  }

  constructor(readonly db: Db) {
    migrate(db, 'fleet', MIGRATIONS);
    this.st = {
      host: db.prepare('SELECT * FROM fleet_hosts WHERE id = ?'),
      hosts: db.prepare('SELECT * FROM fleet_hosts ORDER BY id'),
      hostStates: db.prepare('SELECT id, state FROM fleet_hosts ORDER BY id'),
      upsertStatus: db.prepare(
        `INSERT INTO fleet_hosts (id, state, session, status, last_seen, changed_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, session = excluded.session, status = excluded.status,
           last_seen = excluded.last_seen,
           changed_at = CASE WHEN fleet_hosts.state = excluded.state THEN fleet_hosts.changed_at ELSE excluded.changed_at END`,
      ),
      setInfo: db.prepare('UPDATE fleet_hosts SET info = ?, last_seen = ? WHERE id = ?'),
      seen: db.prepare('UPDATE fleet_hosts SET last_seen = ? WHERE id = ?'),
      resetIncarnation: db.prepare('UPDATE fleet_hosts SET last_event_seq = 0 WHERE id = ?'),
      resetVmSeqs: db.prepare('UPDATE fleet_vms SET seq = 0 WHERE host = ?'),
      vm: db.prepare('SELECT * FROM fleet_vms WHERE id = ?'),
      vms: db.prepare('SELECT * FROM fleet_vms ORDER BY host, name'),
      vmsOfHost: db.prepare('SELECT * FROM fleet_vms WHERE host = ? ORDER BY name'),
      upsertVm: db.prepare(
        `INSERT INTO fleet_vms (id, host, name, state, desired, body, seq, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET host = excluded.host, name = excluded.name, state = excluded.state,
           desired = excluded.desired, body = excluded.body, seq = excluded.seq, updated_at = excluded.updated_at`,
      ),
      deleteVm: db.prepare('DELETE FROM fleet_vms WHERE id = ? AND host = ?'),
      insertEvent: db.prepare(
        `INSERT INTO fleet_events (host, seq, ts, kind, severity, message, vm, data, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      bumpEventSeq: db.prepare('UPDATE fleet_hosts SET last_event_seq = MAX(last_event_seq, ?) WHERE id = ?'),
      events: db.prepare(
        'SELECT rowid AS id, * FROM fleet_events WHERE (? IS NULL OR host = ?) ORDER BY rowid DESC LIMIT ?',
      ),
      insertMetric: db.prepare(
        `INSERT INTO fleet_metrics (host, vm, res, ts, cpu_pct, mem_bytes, rx_bps, tx_bps, n)
         VALUES (?, ?, 0, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING`,
      ),
      history: db.prepare(
        `SELECT ts, res, cpu_pct AS cpuPct, mem_bytes AS memBytes, rx_bps AS rxBps, tx_bps AS txBps FROM fleet_metrics
         WHERE host = ? AND vm = ? AND ts >= ? ORDER BY ts`,
      ),
    };
  }

  host(id: string): HostRow | undefined {
    const r = this.st.host.get(id) as RawHost | undefined;
    return r && this.toHost(r);
  }

  /** Every host's id and state only (no JSON: /metrics at 10,000 hosts). */
  hostStates(): { id: string; state: HostState }[] {
    return this.st.hostStates.all() as { id: string; state: HostState }[];
  }

  hosts(): HostRow[] {
    return (this.st.hosts.all() as RawHost[]).map((r) => this.toHost(r));
  }

  setStatus(s: HostStatus, state: HostState, now = Date.now()): void {
    this.st.upsertStatus.run(s.host, state, s.session, JSON.stringify(s), now, now);
  }

  /** The agent's database was reset (its session counter went back): forget the sequence numbers. */
  newIncarnation(host: string): void {
    this.db.transaction(() => {
      this.st.resetIncarnation.run(host);
      this.st.resetVmSeqs.run(host);
    })();
  }

  setInfo(info: HostInfo, now = Date.now()): void {
    this.st.setInfo.run(JSON.stringify(info), now, info.host);
  }

  seen(host: string, now = Date.now()): void {
    this.st.seen.run(now, host);
  }

  vm(id: string): VmRow | undefined {
    const r = this.st.vm.get(id) as
      | (Omit<VmRow, 'body' | 'updatedAt'> & { body: string; updated_at: number })
      | undefined;
    return r && { ...r, body: JSON.parse(r.body) as VmState, updatedAt: r.updated_at };
  }

  vms(host?: string): VmRow[] {
    const rows = (host ? this.st.vmsOfHost.all(host) : this.st.vms.all()) as (Omit<VmRow, 'body' | 'updatedAt'> & {
      body: string;
      updated_at: number;
    })[];
    return rows.map((r) => ({ ...r, body: JSON.parse(r.body) as VmState, updatedAt: r.updated_at }));
  }

  putVm(s: VmState, now = Date.now()): void {
    this.st.upsertVm.run(s.vm, s.host, s.name, s.state, s.desired, JSON.stringify(s), s.seq, now);
  }

  deleteVm(id: string, host: string): void {
    this.st.deleteVm.run(id, host);
  }

  /** Applies an event once: false when (host, seq) was already recorded. */
  addEvent(e: HostEvent, now = Date.now()): boolean {
    const res = this.st.insertEvent.run(
      e.host,
      e.seq,
      e.ts,
      e.kind,
      e.severity,
      e.message,
      e.vm ?? null,
      e.data ? JSON.stringify(e.data) : null,
      now,
    );
    if (res.changes === 1) this.st.bumpEventSeq.run(e.seq, e.host);
    return res.changes === 1;
  }

  events(host: string | undefined, limit = 100): (HostEvent & { id: number; receivedAt: number })[] {
    const rows = this.st.events.all(host ?? null, host ?? null, limit) as Record<string, unknown>[];
    return rows.map((r) => ({
      id: r['id'] as number,
      v: 1,
      host: r['host'] as string,
      session: 0,
      seq: r['seq'] as number,
      ts: r['ts'] as number,
      kind: r['kind'] as string,
      severity: r['severity'] as HostEvent['severity'],
      message: r['message'] as string,
      ...(r['vm'] ? { vm: r['vm'] as string } : {}),
      ...(r['data'] ? { data: JSON.parse(r['data'] as string) as Record<string, unknown> } : {}),
      receivedAt: r['received_at'] as number,
    }));
  }

  /** Writes raw metric points in one transaction. */
  addMetrics(points: MetricPoint[]): void {
    if (points.length === 0) return;
    this.db.transaction(() => {
      for (const p of points) this.st.insertMetric.run(p.host, p.vm, p.ts, p.cpuPct, p.memBytes, p.rxBps, p.txBps);
    })();
  }

  history(host: string, vm: string, sinceMs: number): (Omit<MetricPoint, 'host' | 'vm'> & { res: number })[] {
    return this.st.history.all(host, vm, sinceMs) as (Omit<MetricPoint, 'host' | 'vm'> & { res: number })[];
  }

  /**
   * Keeps the history bounded: raw points older than `rawMs` are averaged into buckets of `bucketS`
   * seconds, buckets older than `keepMs` and events older than `keepMs` are deleted.
   */
  compact(now: number, rawMs: number, bucketS: number, keepMs: number): void {
    const bucketMs = bucketS * 1000;
    const rawCut = Math.floor((now - rawMs) / bucketMs) * bucketMs; // only whole buckets
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO fleet_metrics (host, vm, res, ts, cpu_pct, mem_bytes, rx_bps, tx_bps, n)
           SELECT host, vm, ?, CAST(ts / ? AS INTEGER) * ?, AVG(cpu_pct), AVG(mem_bytes), AVG(rx_bps), AVG(tx_bps),
             COUNT(*)
           FROM fleet_metrics WHERE res = 0 AND ts < ? GROUP BY host, vm, CAST(ts / ? AS INTEGER)
           ON CONFLICT (host, vm, res, ts) DO UPDATE SET
             cpu_pct = (cpu_pct * n + excluded.cpu_pct * excluded.n) / (n + excluded.n),
             mem_bytes = (mem_bytes * n + excluded.mem_bytes * excluded.n) / (n + excluded.n),
             rx_bps = (rx_bps * n + excluded.rx_bps * excluded.n) / (n + excluded.n),
             tx_bps = (tx_bps * n + excluded.tx_bps * excluded.n) / (n + excluded.n),
             n = n + excluded.n`,
        )
        .run(bucketS, bucketMs, bucketMs, rawCut, bucketMs);
      this.db.prepare('DELETE FROM fleet_metrics WHERE res = 0 AND ts < ?').run(rawCut);
      // each resolution's old points, a range of the (res, ts) index (buckets of a former bucket size too)
      const next = this.db.prepare('SELECT res FROM fleet_metrics WHERE res > ? ORDER BY res LIMIT 1').pluck();
      const old = this.db.prepare('DELETE FROM fleet_metrics WHERE res = ? AND ts < ?');
      for (let res = next.get(0) as number | undefined; res !== undefined; res = next.get(res) as number | undefined) {
        old.run(res, now - keepMs);
      }
      this.db.prepare('DELETE FROM fleet_events WHERE received_at < ?').run(now - keepMs);
    })();
  }
}
