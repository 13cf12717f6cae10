// `stratus vm ...`: create, list, show (why it waits, its addresses and context, its history), ssh,
// start/stop/reboot, console, wait, delete.

import { CliError, EXIT } from '../client.ts';
import type { Command } from '../command.ts';
import type { Vm } from '../../protocol/vm.ts';
import { type Columns, fields, table } from '../output.ts';
import { contextLines, contextOf, createOptions, diskLines, volatileDisksOf } from './vm-create-options.ts';
import { vmSsh } from './vm-ssh.ts';

const columns: Columns<Vm> = [
  ['id', 'ID'],
  ['name', 'NAME'],
  ['state', 'STATE'],
  ['host', 'HOST'],
  ['type', 'TYPE'],
  ['owner', 'OWNER'],
];

const action = (name: 'start' | 'stop' | 'reboot'): Command => ({
  words: `vm ${name}`,
  usage: `stratus vm ${name} ID${name === 'stop' ? ' [--force]' : ''}`,
  summary: `${name[0]!.toUpperCase()}${name.slice(1)} a VM`,
  args: 1,
  options: name === 'stop' ? { force: { type: 'boolean', help: 'Power off at once instead of a guest shutdown' } } : {},
  async run({ api, positionals, values }) {
    const body = name === 'stop' ? { force: values['force'] === true } : undefined;
    const vm = await api.request<Vm>('POST', `/vms/${positionals[0]}/${name}`, body ?? {});
    return { human: `${vm.id} ${vm.state}`, json: vm };
  },
});

export const vmCommands: Command[] = [
  {
    words: 'vm list',
    usage: 'stratus vm list',
    summary: 'List your VMs',
    async run({ api }) {
      const r = await api.request<{ items: Vm[] }>('GET', '/vms');
      return { human: table(r.items, columns), json: r };
    },
  },
  {
    words: 'vm create',
    usage:
      'stratus vm create NAME --type TYPE --image IMAGE [--count N] [--net NETWORK]... [--key NAME]... [--user-data FILE] [--context K=V]... [--wait] [OPTIONS]',
    summary: "Create VMs (placed by the scheduler); --wait prints each one's id and addresses once running",
    args: 1,
    options: createOptions,
    async run({ api, positionals, values }) {
      if (!values['type'] || !values['image']) throw new CliError('vm create needs --type and --image', EXIT.usage);
      const count = values['count'] ? Number(values['count']) : undefined;
      if (count !== undefined && !Number.isInteger(count))
        throw new CliError('--count must be a whole number', EXIT.usage);
      const body: Record<string, unknown> = { name: positionals[0], type: values['type'], image: values['image'] };
      if (count !== undefined) body['count'] = count;
      if (values['group']) body['antiAffinityGroup'] = values['group'];
      if (values['cluster']) body['cluster'] = values['cluster'];
      if (values['feature']) body['requiredFeatures'] = values['feature'];
      if (values['net']) body['nics'] = (values['net'] as string[]).map((network) => ({ network }));
      if (values['disk'] !== undefined) {
        const gib = Number(values['disk']);
        if (!Number.isInteger(gib) || gib < 1) throw new CliError('--disk must be a whole number of GiB', EXIT.usage);
        body['diskGiB'] = gib;
      }
      const volatile = volatileDisksOf(values);
      if (volatile) body['volatileDisksGiB'] = volatile;
      if (values['readonly-disk']) body['readonlyImages'] = values['readonly-disk'];
      const context = contextOf(values);
      if (Object.keys(context).length > 0) body['context'] = context;
      const r = await api.request<{ items: Vm[] }>('POST', '/vms', body);
      if (!values['wait']) return { human: table(r.items, columns), json: r };
      r.items = await Promise.all(r.items.map((vm) => waitState(api, vm.id, ['running'])));
      return { human: table(r.items, [...columns, ['addresses', 'ADDRESSES']]), json: r };
    },
  },
  {
    words: 'vm show',
    usage: 'stratus vm show ID',
    summary: 'Show a VM, why it is in its state, and its history',
    args: 1,
    async run({ api, positionals }) {
      const vm = await api.request<Vm & { events: { at: number; from: string | null; to: string; reason: string }[] }>(
        'GET',
        `/vms/${positionals[0]}`,
      );
      const history = vm.events
        .map((e) => `  ${new Date(e.at).toISOString()}  ${e.from ?? '-'} -> ${e.to}  ${e.reason}`)
        .join('\n');
      const human = `${fields(vm, ['id', 'name', 'state', 'reason', 'host', 'owner', 'type', 'vcpus', 'memoryMiB', 'diskGiB', 'volatileGiB', 'swapMiB', 'image', 'readonlyImages', 'addresses', 'attempts', 'placement', 'observed'])}${diskLines(vm.disks)}${contextLines(vm['context'])}\nhistory:\n${history}`;
      return { human, json: vm };
    },
  },
  vmSsh,
  action('start'),
  action('stop'),
  action('reboot'),
  {
    words: 'vm console',
    usage: 'stratus vm console ID [--bytes N]',
    summary: 'Print the tail of the VM serial console',
    args: 1,
    options: { bytes: { type: 'string', value: 'N', help: 'How many bytes of the end of the log (default 65536)' } },
    async run({ api, positionals, values }) {
      const q = values['bytes'] ? `?bytes=${Number(values['bytes'])}` : '';
      const text = await api.request<string>('GET', `/vms/${positionals[0]}/console${q}`);
      return { human: text.replace(/\n$/, ''), json: { text } };
    },
  },
  {
    words: 'vm wait',
    usage: 'stratus vm wait ID [--state running] [--timeout SECONDS]',
    summary: 'Wait until a VM reaches a state (exit 1 if it fails instead)',
    args: 1,
    options: {
      state: { type: 'string', value: 'STATE[,STATE]', help: 'State(s) to wait for (default running)' },
      timeout: { type: 'string', value: 'SECONDS', help: 'Give up after this long (default 600)' },
    },
    async run({ api, positionals, values }) {
      const states = String(values['state'] ?? 'running').split(',');
      const vm = await waitState(api, positionals[0]!, states, Number(values['timeout'] ?? 600) * 1000);
      const addresses = (vm['addresses'] as string[] | undefined) ?? [];
      return { human: `${vm.id} ${vm.state}${addresses.length > 0 ? ` ${addresses.join(' ')}` : ''}`, json: vm };
    },
  },
  {
    words: 'vm delete',
    usage: 'stratus vm delete ID...',
    summary: 'Delete VMs',
    args: 1,
    async run({ api, positionals }) {
      for (const id of positionals) await api.request('DELETE', `/vms/${id}`);
      return { human: positionals.map((id) => `${id} deleted`).join('\n'), json: { deleted: positionals } };
    },
  },
];

export async function waitState(
  api: import('../client.ts').ApiClient,
  id: string,
  states: string[],
  timeoutMs = 600_000,
): Promise<Vm> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const vm = await api.request<Vm>('GET', `/vms/${id}`);
    if (states.includes(vm.state)) return vm;
    if (vm.state === 'failed' || vm.state === 'deleted' || vm.state === 'lost')
      throw new CliError(`VM ${id} is ${vm.state}: ${vm.reason}`, EXIT.api);
    if (Date.now() > end)
      throw new CliError(`VM ${id} still ${vm.state} after ${timeoutMs / 1000} s: ${vm.reason}`, EXIT.api);
    await new Promise((r) => setTimeout(r, 500));
  }
}
