// `stratus host ...`, `stratus type ...` and `stratus user ...`.

import { CliError, EXIT } from '../client.ts';
import type { Command } from '../command.ts';
import type { Host } from '../../protocol/host-view.ts';
import type { User } from '../../protocol/user.ts';
import { type Columns, fields, table } from '../output.ts';

type Row = Record<string, unknown>;
const hostColumns: Columns<Host> = [
  ['id', 'HOST'],
  ['up', 'UP'],
  ['enabled', 'ENABLED'],
  ['cluster', 'CLUSTER'],
  ['cpus', 'CPUS'],
  ['usedVcpus', 'VCPUS USED'],
  ['memoryMiB', 'MEM MiB'],
  ['usedMemoryMiB', 'MEM USED'],
  ['reason', 'NOTE'],
];
const num = (v: unknown, flag: string) => {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n)) throw new CliError(`--${flag} must be a whole number`, EXIT.usage);
  return n;
};

export const adminCommands: Command[] = [
  {
    words: 'host list',
    usage: 'stratus host list',
    summary: 'List hosts',
    async run({ api }) {
      const r = await api.request<{ items: Host[] }>('GET', '/hosts');
      return { human: table(r.items, hostColumns), json: r };
    },
  },
  {
    words: 'host show',
    usage: 'stratus host show HOST',
    summary: 'Show a host',
    args: 1,
    async run({ api, positionals }) {
      const h = await api.request<Row>('GET', `/hosts/${positionals[0]}`);
      return { human: fields(h, Object.keys(h)), json: h };
    },
  },
  {
    words: 'host enable',
    usage: 'stratus host enable HOST',
    summary: 'Enable a host for scheduling',
    args: 1,
    async run({ api, positionals }) {
      const h = await api.request<Row>('POST', `/hosts/${positionals[0]}/enable`, {});
      return { human: `${positionals[0]} enabled`, json: h };
    },
  },
  {
    words: 'host disable',
    usage: 'stratus host disable HOST [--reason TEXT]',
    summary: 'Disable a host (maintenance)',
    args: 1,
    options: { reason: { type: 'string', value: 'TEXT', help: 'Why (shown with the host and to waiting VMs)' } },
    async run({ api, positionals, values }) {
      const h = await api.request<Row>(
        'POST',
        `/hosts/${positionals[0]}/disable`,
        values['reason'] ? { reason: values['reason'] } : {},
      );
      return { human: `${positionals[0]} disabled`, json: h };
    },
  },
  {
    words: 'type list',
    usage: 'stratus type list',
    summary: 'List instance types',
    async run({ api }) {
      const r = await api.request<{ items: Row[] }>('GET', '/types');
      return {
        human: table(r.items, [
          ['name', 'TYPE'],
          ['vcpus', 'VCPUS'],
          ['memoryMiB', 'MEM MiB'],
          ['diskGiB', 'DISK GiB'],
        ]),
        json: r,
      };
    },
  },
  {
    words: 'type create',
    usage: 'stratus type create NAME --vcpus N --memory MiB --disk GiB',
    summary: 'Create an instance type (admin)',
    args: 1,
    options: {
      vcpus: { type: 'string', value: 'N', help: 'Virtual CPUs' },
      memory: { type: 'string', value: 'MiB', help: 'Memory in MiB' },
      disk: { type: 'string', value: 'GiB', help: 'Root disk size in GiB (0: the image size)' },
      swap: { type: 'string', value: 'MiB', help: 'Swap disk in MiB (0: none)' },
    },
    async run({ api, positionals, values }) {
      const t = await api.request<Row>('POST', '/types', {
        name: positionals[0],
        vcpus: num(values['vcpus'], 'vcpus'),
        memoryMiB: num(values['memory'], 'memory'),
        diskGiB: num(values['disk'] ?? '0', 'disk'),
      });
      return { human: `${positionals[0]} created`, json: t };
    },
  },
  {
    words: 'type delete',
    usage: 'stratus type delete NAME',
    summary: 'Delete an instance type (admin)',
    args: 1,
    async run({ api, positionals }) {
      await api.request('DELETE', `/types/${positionals[0]}`);
      return { human: `${positionals[0]} deleted`, json: { deleted: positionals[0] } };
    },
  },
  {
    words: 'user create',
    usage: 'stratus user create NAME [--admin] [--vms N --vcpus N --memory MiB]',
    summary: 'Create a user and print its token (admin)',
    args: 1,
    options: {
      admin: { type: 'boolean', help: 'Give the user the admin role' },
      vms: { type: 'string', value: 'N', help: 'Quota: VMs at most' },
      vcpus: { type: 'string', value: 'N', help: 'Quota: vCPUs at most, all VMs together' },
      memory: { type: 'string', value: 'MiB', help: 'Quota: MiB of memory at most, all VMs together' },
    },
    async run({ api, positionals, values }) {
      const body: Record<string, unknown> = { name: positionals[0], role: values['admin'] ? 'admin' : 'user' };
      if (values['vms'] || values['vcpus'] || values['memory']) {
        body['quota'] = {
          vms: num(values['vms'] ?? '20', 'vms'),
          vcpus: num(values['vcpus'] ?? '64', 'vcpus'),
          memoryMiB: num(values['memory'] ?? '131072', 'memory'),
        };
      }
      const r = await api.request<{ user: User; token: string }>('POST', '/users', body);
      return { human: `user ${positionals[0]} created; token (shown once): ${r.token}`, json: r };
    },
  },
  {
    words: 'user me',
    usage: 'stratus user me',
    summary: 'Who you are, and your quota',
    async run({ api }) {
      const u = await api.request<User>('GET', '/users/me');
      return { human: fields(u, ['name', 'role', 'quota']), json: u };
    },
  },
];
