// tier: unit
// IPv4/IPv6 parsing and formatting, CIDR checks and the EUI-64 identifiers SLAAC derives from MACs.

import t from 'tap';
import {
  canonicalCidr,
  eui64,
  formatIpv4,
  formatIpv6,
  linkLocal,
  netmask4,
  parseCidr4,
  parseCidr6,
  parseIpv4,
  parseIpv6,
  slaacAddress,
} from '../../common/ip.ts';

t.test('IPv4 round-trips; leading zeros, out-of-range octets and junk are refused', async (t) => {
  for (const s of ['0.0.0.0', '10.213.0.5', '255.255.255.255']) t.equal(formatIpv4(parseIpv4(s)), s);
  for (const s of ['010.0.0.1', '256.0.0.1', '1.2.3', '1.2.3.4.5', ' 1.2.3.4', 'a.b.c.d']) {
    t.throws(() => parseIpv4(s), { code: 'STRATUS_ERR_VALIDATION' }, s);
  }
  t.equal(netmask4(24), '255.255.255.0');
  t.equal(netmask4(0), '0.0.0.0');
  t.equal(netmask4(32), '255.255.255.255');
  t.match(parseCidr4('10.213.0.0/24'), { prefix: 24, last: parseIpv4('10.213.0.255') });
  t.throws(() => parseCidr4('10.213.0.1/24'), /host bits set; the network is 10\.213\.0\.0\/24/);
  t.throws(() => parseCidr4('10.0.0.0/33'));
});

t.test('IPv6 parses every notation and formats as RFC 5952', async (t) => {
  const cases: [string, string][] = [
    ['::', '::'],
    ['::1', '::1'],
    ['FD00:0213:0000:0000:0000:0000:0000:0005', 'fd00:213::5'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8::0:1', '2001:db8::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ['fe80::1:2', 'fe80::1:2'],
  ];
  for (const [a, b] of cases) t.equal(formatIpv6(parseIpv6(a)), b, a);
  for (const s of ['1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', ':', '1:2:3:4:5:6:7']) {
    t.throws(() => parseIpv6(s), { code: 'STRATUS_ERR_VALIDATION' }, s);
  }
  t.throws(() => parseCidr6('fd00:213::1/64'), /host bits set/);
  t.equal(canonicalCidr('FD00:213::5').text, 'fd00:213::5/128');
  t.equal(canonicalCidr('10.1.2.3/8').text, '10.0.0.0/8');
});

t.test('EUI-64: the universal/local bit flips and ff:fe goes in the middle', async (t) => {
  t.equal(eui64('52:54:00:12:34:56').toString(16), '505400fffe123456');
  t.equal(formatIpv6(linkLocal('02:00:00:aa:bb:01')), 'fe80::ff:feaa:bb01');
  t.equal(formatIpv6(slaacAddress(parseCidr6('fd00:213:7::/64'), '02:00:00:aa:bb:01')), 'fd00:213:7::ff:feaa:bb01');
});
