// IPv4 and IPv6 arithmetic for address management and firewall rules: parsing and formatting (IPv4 as
// numbers, IPv6 as 128-bit BigInts), CIDR networks, masks, and the modified EUI-64 interface identifier
// that SLAAC derives from a MAC (RFC 4291 appendix A). Pure functions; bad input throws ValidationError.

import { ValidationError } from './errors.ts';

export function parseIpv4(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) throw new ValidationError(`${s} is not an IPv4 address`, { value: s });
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    const b = Number(part);
    if (b > 255 || (part.length > 1 && part.startsWith('0'))) {
      throw new ValidationError(`${s} is not an IPv4 address`, { value: s });
    }
    n = n * 256 + b;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr4 {
  network: number;
  prefix: number;
  /** Last address (broadcast for prefixes shorter than /31). */
  last: number;
}

export function parseCidr4(s: string): Cidr4 {
  const [addr, len, extra] = s.split('/');
  const prefix = Number(len);
  if (extra !== undefined || !/^\d{1,2}$/.test(len ?? '') || prefix > 32) {
    throw new ValidationError(`${s} is not an IPv4 network (a.b.c.d/n)`, { value: s });
  }
  const ip = parseIpv4(addr!);
  const size = 2 ** (32 - prefix);
  const network = ip - (ip % size);
  if (network !== ip) {
    throw new ValidationError(`${s} has host bits set; the network is ${formatIpv4(network)}/${prefix}`, { value: s });
  }
  return { network, prefix, last: network + size - 1 };
}

export function netmask4(prefix: number): string {
  return formatIpv4(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}

export function inCidr4(ip: number, c: Cidr4): boolean {
  return ip >= c.network && ip <= c.last;
}

const MAX6 = (1n << 128n) - 1n;

export function parseIpv6(s: string): bigint {
  const bad = () => new ValidationError(`${s} is not an IPv6 address`, { value: s });
  if (!/^[0-9A-Fa-f:.]{2,45}$/.test(s)) throw bad();
  let text = s;
  const tail: number[] = [];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = parseIpv4(v4[2]!);
    tail.push(n >>> 16, n & 0xffff);
    text = v4[1]!.endsWith('::') ? v4[1]! : v4[1]!.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) throw bad();
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const total = head.length + rest.length + tail.length;
  if (halves.length === 1 ? total !== 8 : total > 7) throw bad();
  const words = [...head, ...Array(8 - total).fill('0'), ...rest].map((g) => {
    if (typeof g === 'string' && !/^[0-9A-Fa-f]{1,4}$/.test(g)) throw bad();
    return Number.parseInt(g, 16);
  });
  let n = 0n;
  for (const w of [...words.slice(0, 8 - tail.length), ...tail]) n = (n << 16n) | BigInt(w);
  return n;
}

/** RFC 5952 text: lower case, zeros suppressed, the longest run of zero groups as `::`. */
export function formatIpv6(n: bigint): string {
  const w: number[] = [];
  for (let i = 7; i >= 0; i--) w.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = w.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** A fixed-width key that sorts like the address (for SQLite columns and ranges). */
export function ipv6Key(n: bigint): string {
  return n.toString(16).padStart(32, '0');
}

export interface Cidr6 {
  network: bigint;
  prefix: number;
  last: bigint;
}

export function parseCidr6(s: string): Cidr6 {
  const [addr, len, extra] = s.split('/');
  const prefix = Number(len);
  if (extra !== undefined || !/^\d{1,3}$/.test(len ?? '') || prefix > 128) {
    throw new ValidationError(`${s} is not an IPv6 prefix (addr/n)`, { value: s });
  }
  const ip = parseIpv6(addr!);
  const hostMask = prefix === 128 ? 0n : MAX6 >> BigInt(prefix);
  const network = ip & ~hostMask & MAX6;
  if (network !== ip) {
    throw new ValidationError(`${s} has host bits set; the prefix is ${formatIpv6(network)}/${prefix}`, { value: s });
  }
  return { network, prefix, last: network | hostMask };
}

export function inCidr6(ip: bigint, c: Cidr6): boolean {
  return ip >= c.network && ip <= c.last;
}

export function parseMac(mac: string): number[] {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) throw new ValidationError(`${mac} is not a MAC address`);
  return mac.split(':').map((b) => Number.parseInt(b, 16));
}

/** Modified EUI-64 interface identifier of a MAC: universal/local bit flipped, ff:fe in the middle. */
export function eui64(mac: string): bigint {
  const b = parseMac(mac);
  const bytes = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  return bytes.reduce((n, x) => (n << 8n) | BigInt(x), 0n);
}

/** The SLAAC address a host with `mac` takes in a /64 `prefix`. */
export function slaacAddress(prefix: Cidr6, mac: string): bigint {
  return prefix.network | eui64(mac);
}

/** The link-local address (fe80::/64 + EUI-64) of a MAC. */
export function linkLocal(mac: string): bigint {
  return (0xfe80n << 112n) | eui64(mac);
}

/** Parses an IPv4 or IPv6 address or CIDR and says which family it is, in canonical text. */
export function canonicalCidr(s: string): { family: 4 | 6; text: string } {
  const [addr, len] = s.split('/');
  if (addr!.includes(':')) {
    const p = len === undefined ? 128 : Number(len);
    const c = parseCidr6(`${formatIpv6(parseIpv6(addr!) & ~(p === 128 ? 0n : MAX6 >> BigInt(p)) & MAX6)}/${p}`);
    return { family: 6, text: `${formatIpv6(c.network)}/${c.prefix}` };
  }
  const p = len === undefined ? 32 : Number(len);
  if (!Number.isInteger(p) || p > 32) throw new ValidationError(`${s} is not an IPv4 network`);
  const ip = parseIpv4(addr!);
  const size = 2 ** (32 - p);
  return { family: 4, text: `${formatIpv4(ip - (ip % size))}/${p}` };
}
