// `stratus vm migrate ID [--host H]` (live when running, cold when stopped; progress on stderr) and
// `stratus host evacuate HOST` (disables the host, moves every VM, lists the ones that could not move).

import type { Command } from '../command.ts';
import { type ApiClient, CliError, EXIT } from '../client.ts';
import { table } from '../output.ts';

interface Migration {
  vm: string;
  from: string;
  to: string;
  live: boolean;
  durationMs: number;
  downtimeMs?: number;
}

/** Runs `work` while printing the VM's progress (its reason) to stderr when it changes. */
async function withProgress<T>(api: ApiClient, vmId: string | undefined, quiet: boolean, work: Promise<T>): Promise<T> {
  if (!vmId || quiet) return work;
  let last = '';
  let done = false;
  const poll = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, 1000));
      const vm = await api.request<{ reason?: string }>('GET', `/vms/${vmId}`).catch(() => undefined);
      if (!done && vm?.reason && vm.reason !== last) {
        last = vm.reason;
        process.stderr.write(`${last}\n`);
      }
    }
  })();
  try {
    return await work;
  } finally {
    done = true;
    await poll;
  }
}

const describe = (m: Migration) =>
  `${m.vm} ${m.live ? 'live-migrated' : 'moved (stopped)'} from ${m.from} to ${m.to} in ${(m.durationMs / 1000).toFixed(1)} s` +
  (m.downtimeMs !== undefined ? `, downtime ${m.downtimeMs} ms` : '');

export const migrateCommands: Command[] = [
  {
    words: 'vm migrate',
    usage: 'stratus vm migrate ID [--host HOST] [--bandwidth MIBS] | --cancel',
    summary: 'Move a VM to another host (live when it runs, cold when stopped), or stop its migration',
    args: 1,
    options: {
      host: {
        type: 'string',
        value: 'HOST',
        help: 'Target host (default: the scheduler picks one with the placement filters)',
      },
      bandwidth: {
        type: 'string',
        value: 'MIBS',
        help: "Bandwidth cap of this migration in MiB/s (default: the source host's [migration] bandwidth_mibs)",
      },
      cancel: { type: 'boolean', help: 'Stop the running migration of the VM: it stays on its host' },
    },
    async run({ api, positionals, values, json }) {
      const id = positionals[0]!;
      if (values['cancel']) {
        const c = await api.request<{ vm: string; cancelled: boolean }>('POST', `/vms/${id}/migrate/cancel`, {});
        return {
          human: c.cancelled
            ? `${id}: migration cancelled; the VM stays on its host`
            : `${id}: no migration was running`,
          json: c,
        };
      }
      const body: Record<string, unknown> = typeof values['host'] === 'string' ? { host: values['host'] } : {};
      if (typeof values['bandwidth'] === 'string') {
        const n = Number(values['bandwidth']);
        if (!Number.isInteger(n) || n < 1)
          throw new CliError(`--bandwidth must be a whole number of MiB/s, got ${values['bandwidth']}`, EXIT.usage);
        body['bandwidthMiBs'] = n;
      }
      const m = await withProgress(api, id, json, api.request<Migration>('POST', `/vms/${id}/migrate`, body));
      return { human: describe(m), json: m };
    },
  },
  {
    words: 'host evacuate',
    usage: 'stratus host evacuate HOST',
    summary: 'Disable a host and migrate every VM off it',
    args: 1,
    async run({ api, positionals }) {
      const r = await api.request<{
        host: string;
        moved: Migration[];
        failed: { vm: string; name: string; reason: string }[];
      }>('POST', `/hosts/${positionals[0]}/evacuate`, {});
      const lines = [
        `${r.host} disabled; ${r.moved.length} VM(s) moved, ${r.failed.length} could not move`,
        ...r.moved.map(describe),
      ];
      if (r.failed.length)
        lines.push(
          table(r.failed, [
            ['vm', 'VM'],
            ['name', 'NAME'],
            ['reason', 'WHY'],
          ]),
        );
      return { human: lines.join('\n'), json: r };
    },
  },
];
