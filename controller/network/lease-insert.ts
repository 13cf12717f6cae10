// Inserts one lease or hold inside the caller's IMMEDIATE transaction: a requested MAC or address is
// checked (inside the network, not reserved, not taken: the error says by whom), a missing one is
// picked by the allocator and the network's cursor moves on. The UNIQUE constraints are the last word.

import { randomUUID } from 'node:crypto';
import { ValidationError } from '../../common/errors.ts';
import { inCidr4, ipv6Key, parseIpv4, parseIpv6 } from '../../common/ip.ts';
import { pickIpv4, pickIpv6, pickMac } from './allocator.ts';
import { AddressInUseError, NetworkNotFoundError } from './errors.ts';
import type { IpamStatements, LeaseRow, NetworkRow } from './ipam-db.ts';
import type { ResolvedNetwork } from './network-config.ts';

export interface LeaseInput {
  kind: 'vm' | 'hold';
  vmId?: string;
  nicIndex?: number;
  mac?: string;
  ipv4?: string;
  ipv6?: string;
  hostname?: string;
  note: string;
}

/** Who holds an address, for error messages. */
export function describeHolder(l: LeaseRow): string {
  return l.kind === 'hold' ? `held${l.note ? ` (${l.note})` : ''}` : `leased to VM ${l.vm_id}`;
}

export function insertLease(s: IpamStatements, row: NetworkRow, r: ResolvedNetwork, o: LeaseInput): LeaseRow {
  const name = row.name;
  const cursors = s.network.get(row.id);
  if (!cursors) throw new NetworkNotFoundError(row.id);
  let mac: string | null = null;
  if (o.mac) {
    const holder = s.byMac.get(o.mac);
    if (holder) throw new AddressInUseError(name, 'MAC', o.mac, describeHolder(holder));
    mac = o.mac;
  } else if (o.kind === 'vm') mac = pickMac(s, name, r.def.macPrefix);
  let ipv4: number | null = null;
  if (o.ipv4 !== undefined) {
    if (!r.v4) throw new ValidationError(`network ${name} has no IPv4`);
    ipv4 = parseIpv4(o.ipv4);
    if (!inCidr4(ipv4, r.v4.cidr) || ipv4 === r.v4.cidr.network || ipv4 === r.v4.cidr.last) {
      throw new ValidationError(`${o.ipv4} is not a host address of ${r.def.ipv4!.cidr}`);
    }
    if (r.v4.reserved.has(ipv4)) throw new AddressInUseError(name, 'IPv4', o.ipv4, 'gateway or DHCP server');
    const holder = s.byIpv4.get(row.id, ipv4);
    if (holder) throw new AddressInUseError(name, 'IPv4', o.ipv4, describeHolder(holder));
  } else if (r.v4 && o.kind === 'vm') {
    ipv4 = pickIpv4(s, row.id, name, r.v4, cursors.cursor_v4);
    s.setCursor4.run(ipv4 + 1, row.id);
  }
  let ipv6: string | null = null;
  if (o.ipv6 !== undefined) {
    if (!r.v6) throw new ValidationError(`network ${name} has no IPv6`);
    const n = parseIpv6(o.ipv6);
    if (n < r.v6.prefix.network || n > r.v6.prefix.last) {
      throw new ValidationError(`${o.ipv6} is not in ${r.def.ipv6!.prefix}`);
    }
    if (r.v6.reserved.has(n)) throw new AddressInUseError(name, 'IPv6', o.ipv6, 'gateway or DHCP server');
    ipv6 = ipv6Key(n);
    const holder = s.byIpv6.get(row.id, ipv6);
    if (holder) throw new AddressInUseError(name, 'IPv6', o.ipv6, describeHolder(holder));
  } else if (r.v6 && r.v6.start !== null && o.kind === 'vm') {
    const n = pickIpv6(s, row.id, name, r.v6, cursors.cursor_v6);
    ipv6 = ipv6Key(n);
    s.setCursor6.run(ipv6Key(n + 1n), row.id);
  }
  const lease: LeaseRow = {
    id: randomUUID(),
    network_id: row.id,
    kind: o.kind,
    vm_id: o.vmId ?? null,
    nic_index: o.kind === 'vm' ? (o.nicIndex ?? 0) : null,
    mac,
    ipv4,
    ipv6,
    hostname: o.hostname ?? null,
    note: o.note,
    created_at: Date.now(),
  };
  s.insertLease.run(lease);
  return lease;
}
