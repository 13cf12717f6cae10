// `stratus net ...`: networks (list, show, create, delete), their leases, holds and releases.

import { CliError, EXIT } from '../client.ts';
import type { Command } from '../command.ts';
import { fields, table } from '../output.ts';

type Row = Record<string, unknown>;
const netColumns: [string, string][] = [
  ['id', 'ID'],
  ['name', 'NAME'],
  ['bridge', 'BRIDGE'],
  ['ipv4Cidr', 'IPV4'],
  ['ipv6Prefix', 'IPV6'],
  ['leases', 'LEASES'],
  ['freeIpv4', 'FREE'],
];
const leaseColumns: [string, string][] = [
  ['id', 'LEASE'],
  ['kind', 'KIND'],
  ['mac', 'MAC'],
  ['ipv4', 'IPV4'],
  ['ipv6', 'IPV6'],
  ['vmId', 'VM'],
  ['hostname', 'HOSTNAME'],
];

const flat = (n: Row): Row => {
  const v4 = n['ipv4'] as Row | undefined;
  const v6 = n['ipv6'] as Row | undefined;
  const usage = (n['usage'] ?? {}) as Row;
  return {
    ...n,
    ipv4Cidr: v4?.['cidr'],
    ipv6Prefix: v6?.['prefix'],
    leases: usage['leases'],
    freeIpv4: usage['ipv4Free'],
  };
};
const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : v ? [String(v)] : []);

export const netCommands: Command[] = [
  {
    words: 'net list',
    usage: 'stratus net list',
    summary: 'List networks',
    async run({ api }) {
      const r = await api.request<{ items: Row[] }>('GET', '/networks');
      return { human: table(r.items.map(flat), netColumns), json: r };
    },
  },
  {
    words: 'net show',
    usage: 'stratus net show NETWORK',
    summary: 'Show a network and its DHCP server',
    args: 1,
    async run({ api, positionals }) {
      const n = await api.request<Row>('GET', `/networks/${encodeURIComponent(positionals[0]!)}`);
      return { human: fields(n, Object.keys(n)), json: n };
    },
  },
  {
    words: 'net create',
    usage:
      'stratus net create NAME --bridge BR [--cidr 10.0.0.0/24 --gateway IP --dns IP... --range-start IP --range-end IP] [--ipv6-prefix P/64 [--slaac] [--ipv6-range-start IP --ipv6-range-end IP]] [--uplink DEV [--vlan N]] [--mac-prefix 02:00:00] (admin)',
    summary: 'Create a network (admin)',
    args: 1,
    options: {
      bridge: { type: 'string', value: 'BR', help: 'Linux bridge the VMs are plugged into' },
      cidr: { type: 'string', value: 'CIDR', help: 'IPv4 subnet, e.g. 10.0.0.0/24' },
      gateway: { type: 'string', value: 'IP', help: 'IPv4 gateway' },
      dns: { type: 'string', value: 'IP', multiple: true, help: 'DNS server given to VMs' },
      'range-start': { type: 'string', value: 'IP', help: 'First IPv4 address given to VMs' },
      'range-end': { type: 'string', value: 'IP', help: 'Last IPv4 address given to VMs' },
      'ipv6-prefix': { type: 'string', value: 'P/64', help: 'IPv6 prefix' },
      slaac: { type: 'boolean', help: 'VMs take IPv6 addresses by SLAAC (else DHCPv6)' },
      'ipv6-range-start': { type: 'string', value: 'IP', help: 'First IPv6 address given to VMs (DHCPv6)' },
      'ipv6-range-end': { type: 'string', value: 'IP', help: 'Last IPv6 address given to VMs (DHCPv6)' },
      uplink: { type: 'string', value: 'DEV', help: 'Host interface the bridge is attached to' },
      vlan: { type: 'string', value: 'N', help: 'VLAN id on the uplink' },
      'mac-prefix': { type: 'string', value: 'PREFIX', help: 'MAC prefix of the VMs, e.g. 02:00:00' },
      description: { type: 'string', value: 'TEXT', help: 'Free text' },
    },
    async run({ api, positionals, values }) {
      if (!values['bridge']) throw new CliError('net create needs --bridge', EXIT.usage);
      if (!values['cidr'] && !values['ipv6-prefix'])
        throw new CliError('net create needs --cidr and/or --ipv6-prefix', EXIT.usage);
      const body: Row = { name: positionals[0], bridge: values['bridge'] };
      if (values['description']) body['description'] = values['description'];
      if (values['mac-prefix']) body['macPrefix'] = values['mac-prefix'];
      if (values['uplink'])
        body['uplink'] = { device: values['uplink'], ...(values['vlan'] ? { vlan: Number(values['vlan']) } : {}) };
      if (values['cidr']) {
        const v4: Row = { cidr: values['cidr'] };
        if (values['gateway']) v4['gateway'] = values['gateway'];
        if (values['dns']) v4['dns'] = list(values['dns']);
        if (values['range-start']) v4['rangeStart'] = values['range-start'];
        if (values['range-end']) v4['rangeEnd'] = values['range-end'];
        body['ipv4'] = v4;
      }
      if (values['ipv6-prefix']) {
        const v6: Row = { prefix: values['ipv6-prefix'], slaac: values['slaac'] === true };
        if (values['ipv6-range-start']) v6['rangeStart'] = values['ipv6-range-start'];
        if (values['ipv6-range-end']) v6['rangeEnd'] = values['ipv6-range-end'];
        body['ipv6'] = v6;
      }
      const n = await api.request<Row>('POST', '/networks', body);
      return { human: `${n['id']} created (bridge ${n['bridge']})`, json: n };
    },
  },
  {
    words: 'net delete',
    usage: 'stratus net delete NETWORK',
    summary: 'Delete a network without leases (admin)',
    args: 1,
    async run({ api, positionals }) {
      await api.request('DELETE', `/networks/${encodeURIComponent(positionals[0]!)}`);
      return { human: `${positionals[0]} deleted`, json: { deleted: positionals[0] } };
    },
  },
  {
    words: 'net leases',
    usage: 'stratus net leases NETWORK [--kind vm|hold]',
    summary: 'List the leases and holds of a network',
    args: 1,
    options: { kind: { type: 'string', value: 'vm|hold', help: 'Only leases of VMs, or only holds' } },
    async run({ api, positionals, values }) {
      const q = values['kind'] ? `?kind=${encodeURIComponent(String(values['kind']))}` : '';
      const r = await api.request<{ items: Row[] }>(
        'GET',
        `/networks/${encodeURIComponent(positionals[0]!)}/leases${q}`,
      );
      return { human: table(r.items, leaseColumns), json: r };
    },
  },
  {
    words: 'net hold',
    usage: 'stratus net hold NETWORK [--ipv4 IP] [--ipv6 IP] [--mac MAC] [--hostname NAME] [--note TEXT] (admin)',
    summary: 'Hold addresses out of the pool (with a MAC: a DHCP reservation)',
    args: 1,
    options: {
      ipv4: { type: 'string', value: 'IP', help: 'IPv4 address to hold' },
      ipv6: { type: 'string', value: 'IP', help: 'IPv6 address to hold' },
      mac: { type: 'string', value: 'MAC', help: 'MAC address (makes the hold a DHCP reservation)' },
      hostname: { type: 'string', value: 'NAME', help: 'Host name given by DHCP' },
      note: { type: 'string', value: 'TEXT', help: 'Why the address is held' },
    },
    async run({ api, positionals, values }) {
      const body: Row = {};
      for (const k of ['ipv4', 'ipv6', 'mac', 'hostname', 'note']) if (values[k]) body[k] = values[k];
      const h = await api.request<Row>('POST', `/networks/${encodeURIComponent(positionals[0]!)}/holds`, body);
      return { human: `hold ${h['id']}: ${[h['ipv4'], h['ipv6'], h['mac']].filter(Boolean).join(' ')}`, json: h };
    },
  },
  {
    words: 'net release',
    usage: 'stratus net release NETWORK LEASE (admin)',
    summary: 'Release a lease or a hold',
    args: 2,
    async run({ api, positionals }) {
      await api.request(
        'DELETE',
        `/networks/${encodeURIComponent(positionals[0]!)}/leases/${encodeURIComponent(positionals[1]!)}`,
      );
      return { human: `${positionals[1]} released`, json: { released: positionals[1] } };
    },
  },
];
