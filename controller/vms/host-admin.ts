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

export class HostAdminStore {
  constructor(private readonly db: Db) {
    migrate(db, 'host-admin', MIGRATIONS);
  }

  get(hostId: string): HostAdmin {
    const r = this.db.prepare('SELECT * FROM host_admin WHERE host_id = ?').get(hostId) as
      | { enabled: number; reason: string; cluster: string; features: string }
      | undefined;
    if (!r) return { ...DEFAULT_HOST_ADMIN };
    return {
      enabled: r.enabled === 1,
      reason: r.reason,
      cluster: r.cluster,
      features: JSON.parse(r.features) as string[],
    };
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
