// The nftables rules of one VM NIC (see drivers/nft.ts for where they go). From the VM: anti-spoofing
// (only its MAC; only its leased IPv4, its IPv6 addresses and the link-local one from its MAC; DHCP
// requests from 0.0.0.0; no DHCP server, no router advertisements, no other ethertypes). To the VM: the
// security group (ARP, neighbour discovery and DHCP replies always; then the allowed ports and sources;
// the rest dropped). Replies to the VM's own connections pass by connection tracking where the kernel
// has it in the bridge family, else by a stateless rule (TCP that is not a new connection, DNS/NTP replies).

import { canonicalCidr, formatIpv4, formatIpv6, linkLocal, parseIpv4, parseIpv6 } from '../../common/ip.ts';
import type { PortRules } from '../../drivers/nft.ts';
import type { FirewallRule, NicFirewall } from '../../protocol/network.ts';

export interface NicAddresses {
  mac: string;
  ipv4?: string[] | undefined;
  ipv6?: string[] | undefined;
  firewall?: NicFirewall | undefined;
}

const set = (items: string[]) => (items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`);

function antiSpoofing(n: NicAddresses): string[] {
  const mac = n.mac.toLowerCase();
  const v4 = (n.ipv4 ?? []).map((a) => formatIpv4(parseIpv4(a)));
  const v6 = [formatIpv6(linkLocal(mac)), ...(n.ipv6 ?? []).map((a) => formatIpv6(parseIpv6(a)))];
  return [
    `ether saddr != ${mac} drop`,
    'ether type != { ip, ip6, arp } drop',
    `arp saddr ether != ${mac} drop`,
    `arp saddr ip != ${set(['0.0.0.0', ...v4])} drop`,
    'udp sport 68 udp dport 67 ip saddr 0.0.0.0 accept',
    v4.length > 0 ? `ip saddr != ${set(v4)} drop` : 'ether type ip drop',
    'udp sport 67 drop',
    `ip6 saddr != ${set(['::', ...v6])} drop`,
    'icmpv6 type { nd-router-advert, nd-redirect } drop',
    'udp sport 547 drop',
  ];
}

function ports(r: FirewallRule): string {
  if (!r.ports) return '';
  const [a, b] = r.ports.split('-').map(Number);
  if (!(a! >= 1 && a! <= 65535) || (b !== undefined && !(b >= a! && b <= 65535))) {
    throw new RangeError(`bad port range ${r.ports}`);
  }
  return ` th dport ${b === undefined ? a : `${a}-${b}`}`;
}

function allowRule(r: FirewallRule): string[] {
  const src = r.source ? canonicalCidr(r.source) : undefined;
  const from = src ? ` ${src.family === 4 ? 'ip' : 'ip6'} saddr ${src.text}` : '';
  const fams = src ? [src.family] : [4, 6];
  switch (r.protocol) {
    case 'tcp':
    case 'udp':
      return fams.map(
        (f) => `${f === 4 ? 'ether type ip' : 'ether type ip6'}${from} meta l4proto ${r.protocol}${ports(r)} accept`,
      );
    case 'icmp':
      return fams.map((f) =>
        f === 4
          ? `${from.trim() || 'ether type ip'} meta l4proto icmp accept`
          : `${from.trim() || 'ether type ip6'} meta l4proto ipv6-icmp accept`,
      );
    case 'any':
      return [from ? `${from.trim()} accept` : 'accept'];
  }
}

function inbound(rules: FirewallRule[], conntrack: boolean): string[] {
  const out = [
    'ether type arp accept',
    'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, mld-listener-query } accept',
    'udp sport 67 udp dport 68 accept',
    'udp sport 547 udp dport 546 accept',
  ];
  if (conntrack) out.push('ct state established,related accept', 'ct state invalid drop');
  else {
    out.push(
      'tcp flags != syn / syn,ack accept',
      'udp sport { 53, 123 } accept',
      'icmp type { echo-reply, destination-unreachable, time-exceeded } accept',
      'icmpv6 type { echo-reply, destination-unreachable, packet-too-big, time-exceeded } accept',
    );
  }
  for (const r of rules) out.push(...allowRule(r));
  out.push('drop');
  return out;
}

/** The rules for a NIC; no firewall section means no rules at all (an empty chain lets everything pass). */
export function nicRules(n: NicAddresses, opts: { conntrack: boolean }): PortRules {
  const fw = n.firewall;
  if (!fw) return { fromPort: [], toPort: [] };
  return {
    fromPort: fw.antiSpoofing === false ? [] : antiSpoofing(n),
    toPort: fw.inbound ? inbound(fw.inbound, opts.conntrack) : [],
  };
}
