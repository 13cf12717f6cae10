// Checks a network definition beyond its schema and resolves its defaults: the IPv4 range inside the
// CIDR, the addresses never handed out (network, broadcast, gateway, DHCP server), the DHCP server's
// address on the bridge, the IPv6 prefix (a /64 for SLAAC) and its DHCPv6 range, the MAC prefix.

import { ValidationError } from '../../common/errors.ts';
import {
  type Cidr4,
  type Cidr6,
  formatIpv4,
  formatIpv6,
  inCidr4,
  inCidr6,
  parseCidr4,
  parseCidr6,
  parseIpv4,
  parseIpv6,
} from '../../common/ip.ts';
import type { NetworkCreate } from '../../protocol/network.ts';

export interface Resolved4 {
  cidr: Cidr4;
  start: number;
  end: number;
  server: number;
  /** Addresses inside the range that are never leased. */
  reserved: Set<number>;
}

export interface Resolved6 {
  prefix: Cidr6;
  start: bigint | null;
  end: bigint | null;
  server: bigint;
  reserved: Set<bigint>;
}

export interface ResolvedNetwork {
  def: NetworkCreate;
  v4: Resolved4 | null;
  v6: Resolved6 | null;
}

function bad(field: string, message: string): never {
  throw new ValidationError(`invalid network: ${field}: ${message}`, { problems: [{ path: field, message }] });
}

function resolve4(c: NonNullable<NetworkCreate['ipv4']>): Resolved4 {
  const cidr = parseCidr4(c.cidr);
  if (cidr.prefix > 30) bad('/ipv4/cidr', 'must be /30 or larger to hold a range, a gateway and a DHCP server');
  const inside = (field: string, s: string) => {
    const n = parseIpv4(s);
    if (!inCidr4(n, cidr) || n === cidr.network || n === cidr.last)
      bad(field, `${s} is not a host address of ${c.cidr}`);
    return n;
  };
  const gateway = c.gateway === undefined ? undefined : inside('/ipv4/gateway', c.gateway);
  const start = c.rangeStart === undefined ? cidr.network + 1 : inside('/ipv4/rangeStart', c.rangeStart);
  const end = c.rangeEnd === undefined ? cidr.last - 1 : inside('/ipv4/rangeEnd', c.rangeEnd);
  if (start > end) bad('/ipv4/rangeEnd', 'must not come before rangeStart');
  let server: number;
  if (c.dhcpServer !== undefined) server = inside('/ipv4/dhcpServer', c.dhcpServer);
  else server = gateway === cidr.last - 1 ? cidr.last - 2 : cidr.last - 1;
  if (server === gateway) bad('/ipv4/dhcpServer', 'must differ from the gateway');
  const reserved = new Set([server, ...(gateway === undefined ? [] : [gateway])]);
  return { cidr, start, end, server, reserved };
}

function resolve6(c: NonNullable<NetworkCreate['ipv6']>): Resolved6 {
  const prefix = parseCidr6(c.prefix);
  if (c.slaac && prefix.prefix !== 64) bad('/ipv6/prefix', 'must be a /64 for SLAAC');
  if (prefix.prefix > 120) bad('/ipv6/prefix', 'must be /120 or larger');
  const inside = (field: string, s: string) => {
    const n = parseIpv6(s);
    if (!inCidr6(n, prefix) || n === prefix.network) bad(field, `${s} is not a host address of ${c.prefix}`);
    return n;
  };
  if ((c.rangeStart === undefined) !== (c.rangeEnd === undefined)) {
    bad('/ipv6/rangeEnd', 'give both rangeStart and rangeEnd for DHCPv6, or neither');
  }
  const start = c.rangeStart === undefined ? null : inside('/ipv6/rangeStart', c.rangeStart);
  const end = c.rangeEnd === undefined ? null : inside('/ipv6/rangeEnd', c.rangeEnd);
  if (start !== null && end !== null && start > end) bad('/ipv6/rangeEnd', 'must not come before rangeStart');
  if (!c.slaac && start === null) bad('/ipv6', 'needs slaac or a DHCPv6 range (rangeStart, rangeEnd)');
  const gateway = c.gateway === undefined ? undefined : parseIpv6(c.gateway);
  let server: bigint;
  if (c.dhcpServer !== undefined) server = inside('/ipv6/dhcpServer', c.dhcpServer);
  else server = prefix.network + (gateway === prefix.network + 1n ? 2n : 1n);
  if (server === gateway) bad('/ipv6/dhcpServer', 'must differ from the gateway');
  const reserved = new Set([server, ...(gateway === undefined ? [] : [gateway])]);
  return { prefix, start, end, server, reserved };
}

export function resolveNetwork(def: NetworkCreate): ResolvedNetwork {
  const first = Number.parseInt(def.macPrefix.slice(0, 2), 16);
  if (first & 1) bad('/macPrefix', 'the first octet must be unicast (even), such as 02 or 52');
  if (def.uplink?.vlan !== undefined && `${def.uplink.device}.${def.uplink.vlan}`.length > 15) {
    bad('/uplink', 'device.vlan must fit in 15 characters');
  }
  return {
    def,
    v4: def.ipv4 ? resolve4(def.ipv4) : null,
    v6: def.ipv6 ? resolve6(def.ipv6) : null,
  };
}

export function range4Text(r: Resolved4): string {
  return `${formatIpv4(r.start)}-${formatIpv4(r.end)}`;
}

export function range6Text(r: Resolved6): string {
  return r.start === null || r.end === null ? 'none' : `${formatIpv6(r.start)}-${formatIpv6(r.end)}`;
}

/** The definition as stored and shown: defaults filled in, addresses in canonical text. */
export function canonicalDefinition(r: ResolvedNetwork): NetworkCreate {
  const def = structuredClone(r.def);
  if (def.ipv4 && r.v4) {
    def.ipv4.rangeStart = formatIpv4(r.v4.start);
    def.ipv4.rangeEnd = formatIpv4(r.v4.end);
    def.ipv4.dhcpServer = formatIpv4(r.v4.server);
  }
  if (def.ipv6 && r.v6) {
    def.ipv6.prefix = `${formatIpv6(r.v6.prefix.network)}/${r.v6.prefix.prefix}`;
    if (r.v6.start !== null) def.ipv6.rangeStart = formatIpv6(r.v6.start);
    if (r.v6.end !== null) def.ipv6.rangeEnd = formatIpv6(r.v6.end);
    def.ipv6.dhcpServer = formatIpv6(r.v6.server);
    if (def.ipv6.gateway) def.ipv6.gateway = formatIpv6(parseIpv6(def.ipv6.gateway));
    def.ipv6.dns = def.ipv6.dns.map((d) => formatIpv6(parseIpv6(d)));
  }
  return def;
}
