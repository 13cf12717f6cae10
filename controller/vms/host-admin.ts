// Administrative settings of hosts, kept by the controller: enabled or disabled (maintenance, with a
// reason), cluster (partition) and features the scheduler can require. Hosts report everything else.

import { type Db, migrate } from '../../common/sqlite.ts';

export interface HostAdmin {
  enabled: boolean;
  reason: string;
  cluster: string;
  features: string[];
}

const MIGRATIONS = [
  `CREATE TABLE host_admin (
     host_id TEXT PRIMARY KEY,
     enabled INTEGER NOT NULL DEFAULT 1,
     reason TEXT NOT NULL DEFAULT '',
     cluster TEXT NOT NULL DEFAULT 'default',
     features TEXT NOT NULL DEFAULT '[]'
   )`,
];

export const DEFAULT_HOST_ADMIN: HostAdmin = { enabled: true, reason: '', cluster: 'default', features: [] };

type Row = { host_id: string; enabled: number; reason: string; cluster: string; features: string };

const toAdmin = (r: Row): HostAdmin => ({
  enabled: r.enabled === 1,
  reason: r.reason,
  cluster: r.cluster,
  features: JSON.parse(r.features) as string[],
});

export class HostAdminStore {
  private readonly one;
  private readonly every;

  constructor(private readonly db: Db) {
    migrate(db, 'host-admin', MIGRATIONS);
    this.one = db.prepare('SELECT * FROM host_admin WHERE host_id = ?');
    this.every = db.prepare('SELECT * FROM host_admin');
  }

  get(hostId: string): HostAdmin {
    const r = this.one.get(hostId) as Row | undefined;
    return r ? toAdmin(r) : { ...DEFAULT_HOST_ADMIN };
  }

  /** Settings of every host that has some (others have the defaults): one query for a whole fleet. */
  all(): Map<string, HostAdmin> {
    return new Map((this.every.all() as Row[]).map((r) => [r.host_id, toAdmin(r)]));
  }

  set(hostId: string, change: Partial<HostAdmin>): HostAdmin {
    const next = { ...this.get(hostId), ...change };
    this.db
      .prepare(
        `INSERT INTO host_admin (host_id, enabled, reason, cluster, features) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (host_id) DO UPDATE SET enabled = excluded.enabled, reason = excluded.reason,
           cluster = excluded.cluster, features = excluded.features`,
      )
      .run(hostId, next.enabled ? 1 : 0, next.reason, next.cluster, JSON.stringify(next.features));
    return next;
  }
}
