// Picks free addresses and MACs inside an open transaction. Addresses are taken round-robin from a
// per-network cursor (a released address is not reused at once, which spares stale ARP and neighbour
// caches), walking the sorted used addresses from the index so that a pick costs O(used), not O(range).
// MACs are the network's prefix plus random octets, retried on the rare collision.

import { randomBytes } from 'node:crypto';
import { ipv6Key } from '../../common/ip.ts';
import { RangeExhaustedError } from './errors.ts';
import { type IpamStatements, keyToIpv6 } from './ipam-db.ts';
import { range4Text, range6Text, type Resolved4, type Resolved6 } from './network-config.ts';

/** First free address in [from, to], skipping reserved ones, or null. */
function scan4(s: IpamStatements, net: string, r: Resolved4, from: number, to: number): number | null {
  let c = from;
  const skip = () => {
    while (c <= to && r.reserved.has(c)) c++;
  };
  skip();
  for (const row of s.used4.iterate(net, from, to)) {
    if (c > to) return null;
    if (row.ipv4 > c) return c;
    if (row.ipv4 === c) {
      c++;
      skip();
    }
  }
  return c <= to ? c : null;
}

export function pickIpv4(s: IpamStatements, net: string, name: string, r: Resolved4, cursor: number | null): number {
  const from = cursor !== null && cursor >= r.start && cursor <= r.end ? cursor : r.start;
  const ip = scan4(s, net, r, from, r.end) ?? (from > r.start ? scan4(s, net, r, r.start, from - 1) : null);
  if (ip === null) throw new RangeExhaustedError(name, 'ipv4', range4Text(r));
  return ip;
}

function scan6(s: IpamStatements, net: string, r: Resolved6, from: bigint, to: bigint): bigint | null {
  let c = from;
  const skip = () => {
    while (c <= to && r.reserved.has(c)) c++;
  };
  skip();
  for (const row of s.used6.iterate(net, ipv6Key(from), ipv6Key(to))) {
    if (c > to) return null;
    const used = keyToIpv6(row.ipv6);
    if (used > c) return c;
    if (used === c) {
      c++;
      skip();
    }
  }
  return c <= to ? c : null;
}

export function pickIpv6(s: IpamStatements, net: string, name: string, r: Resolved6, cursor: string | null): bigint {
  const start = r.start!;
  const end = r.end!;
  const cur = cursor === null ? null : keyToIpv6(cursor);
  const from = cur !== null && cur >= start && cur <= end ? cur : start;
  const ip = scan6(s, net, r, from, end) ?? (from > start ? scan6(s, net, r, start, from - 1n) : null);
  if (ip === null) throw new RangeExhaustedError(name, 'ipv6', range6Text(r));
  return ip;
}

export function pickMac(s: IpamStatements, name: string, prefix: string): string {
  const head = prefix.split(':');
  for (let attempt = 0; attempt < 64; attempt++) {
    const tail = [...randomBytes(6 - head.length)].map((b) => b.toString(16).padStart(2, '0'));
    const mac = [...head, ...tail].join(':');
    if (!s.byMac.get(mac)) return mac;
  }
  throw new RangeExhaustedError(name, 'mac', `${prefix}:*`);
}
