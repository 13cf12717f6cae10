// The tables of address management (feature `ipam` in the controller's SQLite database) and their rows.
// Uniqueness is the database's job: one MAC per lease across the cloud, one IPv4 and one IPv6 per
// network, one lease per VM NIC; so no code path, however concurrent, can hand out an address twice.

import { type Db, migrate } from '../../common/sqlite.ts';
import { formatIpv4, formatIpv6, parseCidr6, slaacAddress } from '../../common/ip.ts';
import type { LeaseView, NetworkCreate } from '../../protocol/network.ts';

export const IPAM_MIGRATIONS = [
  `CREATE TABLE ipam_networks (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     bridge TEXT NOT NULL UNIQUE,
     definition TEXT NOT NULL,
     cursor_v4 INTEGER,
     cursor_v6 TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE ipam_leases (
     id TEXT PRIMARY KEY,
     network_id TEXT NOT NULL REFERENCES ipam_networks (id),
     kind TEXT NOT NULL CHECK (kind IN ('vm', 'hold')),
     vm_id TEXT,
     nic_index INTEGER,
     mac TEXT UNIQUE,
     ipv4 INTEGER,
     ipv6 TEXT,
     hostname TEXT,
     note TEXT NOT NULL DEFAULT '',
     created_at INTEGER NOT NULL,
     UNIQUE (network_id, ipv4),
     UNIQUE (network_id, ipv6),
     UNIQUE (vm_id, nic_index),
     CHECK ((kind = 'vm') = (vm_id IS NOT NULL))
   );
   CREATE INDEX ipam_leases_vm ON ipam_leases (vm_id);`,
];

export function migrateIpam(db: Db): void {
  migrate(db, 'ipam', IPAM_MIGRATIONS);
}

export interface NetworkRow {
  id: string;
  name: string;
  bridge: string;
  definition: string;
  cursor_v4: number | null;
  cursor_v6: string | null;
  created_at: number;
  updated_at: number;
}

export interface LeaseRow {
  id: string;
  network_id: string;
  kind: 'vm' | 'hold';
  vm_id: string | null;
  nic_index: number | null;
  mac: string | null;
  ipv4: number | null;
  ipv6: string | null;
  hostname: string | null;
  note: string;
  created_at: number;
}

export function keyToIpv6(key: string): bigint {
  return BigInt(`0x${key}`);
}

export function leaseView(r: LeaseRow, def: NetworkCreate): LeaseView {
  const slaac = def.ipv6?.slaac && r.mac ? formatIpv6(slaacAddress(parseCidr6(def.ipv6.prefix), r.mac)) : null;
  return {
    id: r.id,
    networkId: r.network_id,
    kind: r.kind,
    vmId: r.vm_id,
    nicIndex: r.nic_index,
    mac: r.mac,
    ipv4: r.ipv4 === null ? null : formatIpv4(r.ipv4),
    ipv6: r.ipv6 === null ? null : formatIpv6(keyToIpv6(r.ipv6)),
    ipv6Slaac: slaac,
    hostname: r.hostname,
    note: r.note,
    createdAt: r.created_at,
  };
}

/** Prepared statements, made once per database. */
export function ipamStatements(db: Db) {
  return {
    network: db.prepare<[string], NetworkRow>('SELECT * FROM ipam_networks WHERE id = ?'),
    networkByName: db.prepare<[string], NetworkRow>('SELECT * FROM ipam_networks WHERE name = ?'),
    networkByBridge: db.prepare<[string], NetworkRow>('SELECT * FROM ipam_networks WHERE bridge = ?'),
    networks: db.prepare<[], NetworkRow>('SELECT * FROM ipam_networks ORDER BY name'),
    insertNetwork: db.prepare(
      `INSERT INTO ipam_networks (id, name, bridge, definition, created_at, updated_at)
       VALUES (@id, @name, @bridge, @definition, @now, @now)`,
    ),
    updateDefinition: db.prepare('UPDATE ipam_networks SET definition = ?, updated_at = ? WHERE id = ?'),
    setCursor4: db.prepare('UPDATE ipam_networks SET cursor_v4 = ? WHERE id = ?'),
    setCursor6: db.prepare('UPDATE ipam_networks SET cursor_v6 = ? WHERE id = ?'),
    deleteNetwork: db.prepare('DELETE FROM ipam_networks WHERE id = ?'),
    lease: db.prepare<[string], LeaseRow>('SELECT * FROM ipam_leases WHERE id = ?'),
    leases: db.prepare<[string], LeaseRow>('SELECT * FROM ipam_leases WHERE network_id = ? ORDER BY ipv4, ipv6, id'),
    leasesOfVm: db.prepare<[string], LeaseRow>('SELECT * FROM ipam_leases WHERE vm_id = ? ORDER BY nic_index'),
    leaseOfNic: db.prepare<[string, number], LeaseRow>('SELECT * FROM ipam_leases WHERE vm_id = ? AND nic_index = ?'),
    byMac: db.prepare<[string], LeaseRow>('SELECT * FROM ipam_leases WHERE mac = ?'),
    byIpv4: db.prepare<[string, number], LeaseRow>('SELECT * FROM ipam_leases WHERE network_id = ? AND ipv4 = ?'),
    byIpv6: db.prepare<[string, string], LeaseRow>('SELECT * FROM ipam_leases WHERE network_id = ? AND ipv6 = ?'),
    used4: db.prepare<[string, number, number], { ipv4: number }>(
      'SELECT ipv4 FROM ipam_leases WHERE network_id = ? AND ipv4 BETWEEN ? AND ? ORDER BY ipv4',
    ),
    used6: db.prepare<[string, string, string], { ipv6: string }>(
      'SELECT ipv6 FROM ipam_leases WHERE network_id = ? AND ipv6 BETWEEN ? AND ? ORDER BY ipv6',
    ),
    count4InRange: db.prepare<[string, number, number], { n: number }>(
      'SELECT COUNT(*) AS n FROM ipam_leases WHERE network_id = ? AND ipv4 BETWEEN ? AND ?',
    ),
    counts: db.prepare<[string], { kind: string; n: number }>(
      'SELECT kind, COUNT(*) AS n FROM ipam_leases WHERE network_id = ? GROUP BY kind',
    ),
    insertLease: db.prepare(
      `INSERT INTO ipam_leases (id, network_id, kind, vm_id, nic_index, mac, ipv4, ipv6, hostname, note, created_at)
       VALUES (@id, @network_id, @kind, @vm_id, @nic_index, @mac, @ipv4, @ipv6, @hostname, @note, @created_at)`,
    ),
    deleteLease: db.prepare('DELETE FROM ipam_leases WHERE id = ?'),
  };
}
export type IpamStatements = ReturnType<typeof ipamStatements>;
