// `stratus audit` (admins): the audit log — mutating API calls, refused calls and commands sent to hosts —
// newest first, as a table or --json; --user and --since (a duration such as 90m, 24h, 7d, or an ISO time).

import { CliError, EXIT } from '../client.ts';
import type { Command } from '../command.ts';
import { table } from '../output.ts';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--since`: a duration back from now (30s, 90m, 24h, 7d, 2w) or an ISO 8601 time; returns ISO 8601. */
export function parseSince(v: string, now = Date.now()): string {
  const m = /^(\d+)([smhdw])$/.exec(v.trim());
  if (m) return new Date(now - Number(m[1]) * UNITS[m[2]!]!).toISOString();
  const t = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(t))
    throw new CliError(`--since must be a duration (30m, 24h, 7d) or an ISO time, not "${v}"`, EXIT.usage);
  return new Date(t).toISOString();
}

type Row = Record<string, unknown>;

export const auditCommands: Command[] = [
  {
    words: 'audit',
    usage: 'stratus audit [--user USER] [--since DURATION|TIME] [--limit N]',
    summary: 'Show the audit log: who did what, when, and how it ended (admins)',
    options: {
      user: { type: 'string', value: 'USER', help: 'Only what this user did (`controller`: what it did on its own)' },
      since: {
        type: 'string',
        value: 'DURATION|TIME',
        help: 'Only entries since a duration ago (90m, 24h, 7d) or an ISO time',
      },
      limit: { type: 'string', value: 'N', help: 'At most N entries (default 200)' },
    },
    async run({ api, values }) {
      const q = new URLSearchParams();
      if (typeof values['user'] === 'string') q.set('user', values['user']);
      if (typeof values['since'] === 'string') q.set('since', parseSince(values['since']));
      if (typeof values['limit'] === 'string') {
        if (!/^\d+$/.test(values['limit'])) throw new CliError('--limit must be a whole number', EXIT.usage);
        q.set('limit', values['limit']);
      }
      const r = await api.request<{ items: Row[] }>('GET', `/audit${q.size ? `?${q}` : ''}`);
      const rows = r.items.map((e) => ({
        ...e,
        result: e['status'] ?? e['outcome'],
        what: `${e['action']}${e['kind'] === 'command' ? ` → ${e['target']}` : ''}`,
        code: e['code'] ?? '',
      }));
      return {
        human: table(rows, [
          ['at', 'TIME'],
          ['actor', 'WHO'],
          ['source', 'FROM'],
          ['what', 'WHAT'],
          ['result', 'RESULT'],
          ['code', 'CODE'],
        ]),
        json: r,
      };
    },
  },
];
