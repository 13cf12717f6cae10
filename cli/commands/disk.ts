// `stratus disk ...`: persistent volumes — create, list, show, attach to a VM, detach, delete. Disks
// and VMs are named by id or by name (resolved among yours); --json prints the API's answer.

import { CliError, EXIT, type ApiClient } from '../client.ts';
import type { Command } from '../command.ts';
import { fields, table } from '../output.ts';
import { isUuid } from '../../protocol/ids.ts';

type Disk = Record<string, unknown> & {
  id: string;
  name: string;
  attachments: { vmId: string; device: string; state: string }[];
};

const columns: [string, string][] = [
  ['id', 'ID'],
  ['name', 'NAME'],
  ['sizeGiB', 'GIB'],
  ['backend', 'BACKEND'],
  ['state', 'STATE'],
  ['attachedTo', 'ATTACHED TO'],
  ['tags', 'TAGS'],
];

const row = (d: Disk) => ({
  ...d,
  attachedTo: d.attachments.map((a) => (a.device ? `${a.vmId}:${a.device}` : a.vmId)),
});

async function find<T extends { id: string; name: string }>(api: ApiClient, path: string, what: string, ref: string) {
  if (isUuid(ref)) return ref;
  const { items } = await api.request<{ items: T[] }>('GET', path);
  const hits = items.filter((x) => x.name === ref);
  if (hits.length === 0) throw new CliError(`no ${what} named ${ref}`, EXIT.notFound);
  if (hits.length > 1) throw new CliError(`${hits.length} ${what}s are named ${ref}: use an id`, EXIT.usage);
  return hits[0]!.id;
}
const diskId = (api: ApiClient, ref: string) => find<Disk>(api, '/volumes', 'disk', ref);
const vmId = (api: ApiClient, ref: string) => find<{ id: string; name: string }>(api, '/vms', 'VM', ref);

export const diskCommands: Command[] = [
  {
    words: 'disk list',
    usage: 'stratus disk list',
    summary: 'List your persistent disks',
    async run({ api }) {
      const r = await api.request<{ items: Disk[] }>('GET', '/volumes');
      return { human: table(r.items.map(row), columns), json: r };
    },
  },
  {
    words: 'disk show',
    usage: 'stratus disk show ID|NAME',
    summary: 'Show a disk with its attachments',
    args: 1,
    async run({ api, positionals }) {
      const d = await api.request<Disk>('GET', `/volumes/${await diskId(api, positionals[0]!)}`);
      return { human: fields(d, Object.keys(d)), json: d };
    },
  },
  {
    words: 'disk create',
    usage:
      'stratus disk create NAME --size GIB [--backend iscsi|file] [--format raw|qcow2] [--shareable] [--readonly] [--tag T ...]',
    summary: 'Create a persistent disk (counted against your quota)',
    args: 1,
    options: {
      size: { type: 'string', value: 'GiB', help: 'Size in GiB' },
      backend: { type: 'string', value: 'iscsi|file', help: "Storage backend (default: the site's)" },
      format: { type: 'string', value: 'raw|qcow2', help: 'File format (file backend)' },
      shareable: { type: 'boolean', help: 'May be attached to several VMs at once' },
      readonly: { type: 'boolean', help: 'VMs see it read-only' },
      tag: { type: 'string', value: 'TAG', multiple: true, help: 'A free-form tag' },
    },
    async run({ api, positionals, values }) {
      const size = Number(values['size']);
      if (!values['size'] || !Number.isInteger(size))
        throw new CliError('disk create needs --size GIB (an integer)', EXIT.usage);
      const d = await api.request<Disk>('POST', '/volumes', {
        name: positionals[0],
        sizeGiB: size,
        ...(values['backend'] ? { backend: values['backend'] } : {}),
        ...(values['format'] ? { format: values['format'] } : {}),
        shareable: values['shareable'] === true,
        readonly: values['readonly'] === true,
        tags: (values['tag'] as string[] | undefined) ?? [],
      });
      return { human: `${d.id} created (${d['state']})`, json: d };
    },
  },
  {
    words: 'disk attach',
    usage: 'stratus disk attach DISK VM',
    summary: 'Attach a disk to a VM (hot-plugged when it runs)',
    args: 2,
    async run({ api, positionals }) {
      const id = await diskId(api, positionals[0]!);
      const vm = await vmId(api, positionals[1]!);
      const d = await api.request<Disk>('POST', `/volumes/${id}/attach`, { vmId: vm });
      const a = d.attachments.find((x) => x.vmId === vm);
      return { human: `${d.name} attached to ${vm}${a?.device ? ` as ${a.device}` : ''}`, json: d };
    },
  },
  {
    words: 'disk detach',
    usage: 'stratus disk detach DISK [VM]',
    summary: 'Detach a disk (from VM when it is attached to several)',
    args: 1,
    async run({ api, positionals }) {
      const id = await diskId(api, positionals[0]!);
      const body = positionals[1] ? { vmId: await vmId(api, positionals[1]) } : {};
      const d = await api.request<Disk>('POST', `/volumes/${id}/detach`, body);
      return { human: `${d.name} detached (${d['state']})`, json: d };
    },
  },
  {
    words: 'disk delete',
    usage: 'stratus disk delete DISK',
    summary: 'Delete a disk and its data (it must be detached)',
    args: 1,
    async run({ api, positionals }) {
      const id = await diskId(api, positionals[0]!);
      await api.request('DELETE', `/volumes/${id}`);
      return { human: `${positionals[0]} deleted`, json: { deleted: id } };
    },
  },
];
