// Schemas of networks and addresses: the /v1/networks REST API (networks, leases, holds), and what a
// VM's NIC carries to its agent about its network (leased addresses, uplink, firewall rules). Address
// strings are checked loosely here and exactly by controller/network/ip-math.ts.

import { type Static, Type } from '@sinclair/typebox';
import { Uuid } from './ids.ts';

export const IfName = Type.String({
  minLength: 1,
  maxLength: 15,
  pattern: '^[A-Za-z0-9_.-]+$',
  description: 'Linux interface name',
  errorMessage: 'must be a Linux interface name (1-15 letters, digits, "_", "." or "-")',
});

export const Ipv4 = Type.String({
  pattern: '^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$',
  description: 'IPv4 address, dotted quad',
  errorMessage: 'must be an IPv4 address such as 10.0.0.5',
});

export const Ipv4Cidr = Type.String({
  pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$',
  description: 'IPv4 network in CIDR notation',
  errorMessage: 'must be an IPv4 network such as 10.0.0.0/24',
});

export const Ipv6 = Type.String({
  minLength: 2,
  maxLength: 45,
  pattern: '^[0-9A-Fa-f:.]+$',
  description: 'IPv6 address',
  errorMessage: 'must be an IPv6 address such as fd00::5',
});

export const Ipv6Prefix = Type.String({
  maxLength: 49,
  pattern: '^[0-9A-Fa-f:.]+/[0-9]{1,3}$',
  description: 'IPv6 prefix in CIDR notation',
  errorMessage: 'must be an IPv6 prefix such as fd00:1::/64',
});

export const AnyCidr = Type.String({
  maxLength: 49,
  pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$',
  description: 'IPv4 or IPv6 address or network (CIDR)',
  errorMessage: 'must be an IPv4 or IPv6 address or network such as 192.0.2.0/24',
});

export const NetworkName = Type.String({
  minLength: 1,
  maxLength: 63,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  errorMessage: 'must be 1-63 letters, digits, ".", "-" or "_", starting with a letter or digit',
});

export const MacPrefix = Type.String({
  pattern: '^[0-9a-f]{2}(:[0-9a-f]{2}){0,4}$',
  description: 'First 1 to 5 octets of the MACs handed out (lower case); the first octet must be unicast',
  errorMessage: 'must be 1-5 lower-case MAC octets such as 02:00:00',
});

const Mac = Type.String({
  pattern: '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$',
  errorMessage: 'must be a lower-case MAC address such as 02:00:00:12:34:56',
});

/** Where the network's bridge is plugged: a physical device, or a VLAN sub-interface of it. */
export const Uplink = Type.Object(
  {
    device: IfName,
    vlan: Type.Optional(Type.Integer({ minimum: 1, maximum: 4094, errorMessage: 'must be a VLAN id from 1 to 4094' })),
  },
  { additionalProperties: false, description: 'Physical device (and VLAN id) enslaved to the bridge' },
);
export type Uplink = Static<typeof Uplink>;

export const Ipv4Config = Type.Object(
  {
    cidr: Ipv4Cidr,
    rangeStart: Type.Optional(Ipv4),
    rangeEnd: Type.Optional(Ipv4),
    gateway: Type.Optional(Ipv4),
    dns: Type.Array(Ipv4, { maxItems: 4, default: [] }),
    dhcp: Type.Boolean({ default: true, description: 'Serve the leases by DHCP' }),
    dhcpServer: Type.Optional(
      Type.String({ ...Ipv4, description: 'Address of the DHCP server on the bridge; default: last of the CIDR' }),
    ),
    leaseTimeS: Type.Integer({ minimum: 120, maximum: 31_536_000, default: 86_400 }),
  },
  { additionalProperties: false },
);

export const Ipv6Config = Type.Object(
  {
    prefix: Ipv6Prefix,
    slaac: Type.Boolean({ default: true, description: 'Router advertisements; addresses by EUI-64 from the MAC' }),
    rangeStart: Type.Optional(Ipv6),
    rangeEnd: Type.Optional(Ipv6),
    gateway: Type.Optional(Ipv6),
    dns: Type.Array(Ipv6, { maxItems: 4, default: [] }),
    dhcpServer: Type.Optional(Type.String({ ...Ipv6, description: 'Server address on the bridge; default: ::1' })),
  },
  { additionalProperties: false },
);

export const NetworkCreate = Type.Object(
  {
    name: NetworkName,
    description: Type.String({ maxLength: 256, default: '' }),
    bridge: IfName,
    uplink: Type.Optional(Uplink),
    mtu: Type.Optional(Type.Integer({ minimum: 576, maximum: 9216 })),
    macPrefix: Type.String({ ...MacPrefix, default: '02:00:00' }),
    ipv4: Type.Optional(Ipv4Config),
    ipv6: Type.Optional(Ipv6Config),
  },
  { additionalProperties: false, $id: 'NetworkCreate' },
);
export type NetworkCreate = Static<typeof NetworkCreate>;

export const NetworkUpdate = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 256 })),
    ipv4: Type.Optional(
      Type.Object(
        { gateway: Type.Optional(Ipv4), dns: Type.Optional(Type.Array(Ipv4, { maxItems: 4 })) },
        {
          additionalProperties: false,
        },
      ),
    ),
    ipv6: Type.Optional(
      Type.Object(
        { gateway: Type.Optional(Ipv6), dns: Type.Optional(Type.Array(Ipv6, { maxItems: 4 })) },
        {
          additionalProperties: false,
        },
      ),
    ),
  },
  { additionalProperties: false },
);
export type NetworkUpdate = Static<typeof NetworkUpdate>;

export const LeaseRequest = Type.Object(
  {
    vmId: Uuid,
    nicIndex: Type.Integer({ minimum: 0, maximum: 7, default: 0 }),
    hostname: Type.Optional(NetworkName),
    mac: Type.Optional(Mac),
    ipv4: Type.Optional(Ipv4),
    ipv6: Type.Optional(Ipv6),
  },
  { additionalProperties: false },
);
export type LeaseRequest = Static<typeof LeaseRequest>;

export const HoldRequest = Type.Object(
  {
    ipv4: Type.Optional(Ipv4),
    ipv6: Type.Optional(Ipv6),
    mac: Type.Optional(
      Type.String({ ...Mac, description: 'With a MAC the hold is a reservation: DHCP answers that MAC' }),
    ),
    hostname: Type.Optional(NetworkName),
    note: Type.String({ maxLength: 256, default: '' }),
  },
  { additionalProperties: false },
);
export type HoldRequest = Static<typeof HoldRequest>;

export interface NetworkView extends NetworkCreate {
  id: string;
  createdAt: number;
  updatedAt: number;
  usage: { leases: number; holds: number; ipv4Free: number | null };
}

export interface LeaseView {
  id: string;
  networkId: string;
  kind: 'vm' | 'hold';
  vmId: string | null;
  nicIndex: number | null;
  mac: string | null;
  ipv4: string | null;
  /** DHCPv6 address from the static range. */
  ipv6: string | null;
  /** The EUI-64 address the VM takes by SLAAC (when the network has SLAAC and the lease a MAC). */
  ipv6Slaac: string | null;
  hostname: string | null;
  note: string;
  createdAt: number;
}

/** One inbound rule of a VM's security group: protocol, destination ports on the VM, allowed source. */
export const FirewallRule = Type.Object(
  {
    protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('icmp'), Type.Literal('any')]),
    ports: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,5}(-[0-9]{1,5})?$',
        errorMessage: 'must be a port or a range such as 22 or 8000-8080',
      }),
    ),
    source: Type.Optional(AnyCidr),
  },
  { additionalProperties: false },
);
export type FirewallRule = Static<typeof FirewallRule>;

export const NicFirewall = Type.Object(
  {
    antiSpoofing: Type.Boolean({ default: true, description: 'The VM may only send from its MAC and addresses' }),
    inbound: Type.Optional(
      Type.Array(FirewallRule, {
        maxItems: 64,
        description: 'Allowed inbound traffic; absent means everything is allowed',
      }),
    ),
  },
  { additionalProperties: false },
);
export type NicFirewall = Static<typeof NicFirewall>;

/** Network fields of a VM spec's NIC (optional, added to NicSpec): what the agent needs on its host. */
export const NicNetworkFields = {
  network: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
      description: 'The Stratus network of this NIC: the agent makes its bridge (and uplink) when missing',
    }),
  ),
  uplink: Type.Optional(Uplink),
  ipv4: Type.Optional(Type.Array(Ipv4, { maxItems: 8, description: 'Leased IPv4 addresses' })),
  ipv6: Type.Optional(Type.Array(Ipv6, { maxItems: 8, description: 'Leased IPv6 addresses (DHCPv6 and SLAAC)' })),
  firewall: Type.Optional(NicFirewall),
};
