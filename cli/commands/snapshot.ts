// `stratus snapshot ...`: list, create, revert and delete the snapshots of a VM; `stratus vm save-as`.

import { CliError, EXIT } from '../client.ts';
import type { Command } from '../command.ts';
import { table } from '../output.ts';

type Row = Record<string, unknown>;
const columns: [string, string][] = [
  ['name', 'SNAPSHOT'],
  ['state', 'STATE'],
  ['current', 'CURRENT'],
  ['description', 'DESCRIPTION'],
];
const path = (vm: string, rest = '') => `/vms/${encodeURIComponent(vm)}/snapshots${rest}`;

export const snapshotCommands: Command[] = [
  {
    words: 'vm save-as',
    usage: 'stratus vm save-as VM --name IMAGE [--disk N] [--public]',
    summary: 'Save a VM disk as a new image (running VMs through a live copy)',
    args: 1,
    options: {
      name: { type: 'string', value: 'IMAGE', help: 'Name of the new image' },
      disk: { type: 'string', value: 'N', help: 'Which disk of the VM (0: the root disk)' },
      public: { type: 'boolean', help: 'Let every user launch the image' },
    },
    async run({ api, positionals, values }) {
      if (!values['name']) throw new CliError('vm save-as needs --name', EXIT.usage);
      const body: Row = { name: values['name'] };
      if (values['disk'] !== undefined) body['disk'] = Number(values['disk']);
      if (values['public']) body['visibility'] = 'public';
      const img = await api.request<Row>('POST', `/vms/${encodeURIComponent(positionals[0]!)}/save-as`, body);
      return { human: `image ${img['id']} (${img['name']}) saved, sha256 ${img['sha256']}`, json: img };
    },
  },
  {
    words: 'snapshot list',
    usage: 'stratus snapshot list VM',
    summary: 'List the snapshots of a VM',
    args: 1,
    async run({ api, positionals }) {
      const r = await api.request<{ items: Row[] }>('GET', path(positionals[0]!));
      return { human: table(r.items, columns), json: r };
    },
  },
  {
    words: 'snapshot create',
    usage: 'stratus snapshot create VM [--name NAME] [--description TEXT]',
    summary: 'Snapshot a VM, running or stopped',
    args: 1,
    options: {
      name: { type: 'string', value: 'NAME', help: 'Name of the snapshot (default: generated)' },
      description: { type: 'string', value: 'TEXT', help: 'Free text' },
    },
    async run({ api, positionals, values }) {
      const body: Row = {};
      if (values['name']) body['name'] = values['name'];
      if (values['description']) body['description'] = values['description'];
      const s = await api.request<Row>('POST', path(positionals[0]!), body);
      return { human: `snapshot ${s['name']} of ${positionals[0]} created`, json: s };
    },
  },
  {
    words: 'snapshot revert',
    usage: 'stratus snapshot revert VM NAME [--state running|stopped]',
    summary: 'Revert a VM to a snapshot',
    args: 2,
    options: { state: { type: 'string', value: 'running|stopped', help: 'State the VM is left in afterwards' } },
    async run({ api, positionals, values }) {
      const body = values['state'] ? { state: values['state'] } : {};
      const r = await api.request<Row>(
        'POST',
        path(positionals[0]!, `/${encodeURIComponent(positionals[1]!)}/revert`),
        body,
      );
      return { human: `${positionals[0]} reverted to ${positionals[1]}`, json: r };
    },
  },
  {
    words: 'snapshot delete',
    usage: 'stratus snapshot delete VM NAME',
    summary: 'Delete a snapshot',
    args: 2,
    async run({ api, positionals }) {
      await api.request('DELETE', path(positionals[0]!, `/${encodeURIComponent(positionals[1]!)}`));
      return { human: `snapshot ${positionals[1]} deleted`, json: { deleted: positionals[1] } };
    },
  },
];
