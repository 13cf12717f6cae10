// `stratus host add NAME` (a one-time join token for the new host) and `stratus host revoke NAME`.

import { CliError, EXIT } from '../client.ts';
import type { Command } from '../command.ts';

interface Enrolment {
  name: string;
  token: string;
  expiresAt: number;
  caFingerprint: string;
  command: string;
}

export const enrolCommands: Command[] = [
  {
    words: 'host add',
    usage: 'stratus host add HOST [--ttl SECONDS]',
    summary: 'Enrol a host: prints a one-time join token for `stratus-agent join`',
    args: 1,
    options: { ttl: { type: 'string', value: 'SECONDS', help: 'How long the token stays valid (default 3600)' } },
    async run({ api, positionals, values }) {
      const body: { name: string; ttlS?: number } = { name: positionals[0]! };
      if (values['ttl'] !== undefined) {
        const n = Number(values['ttl']);
        if (!Number.isInteger(n)) throw new CliError('--ttl must be a whole number of seconds', EXIT.usage);
        body.ttlS = n;
      }
      const e = await api.request<Enrolment>('POST', '/hosts', body);
      const human = [
        `Join token for ${e.name} (one use, valid until ${new Date(e.expiresAt).toISOString()}):`,
        e.token,
        '',
        'On the host, run:',
        `  ${e.command}`,
        `(or set [join] url and token in /etc/stratus/agent.toml before the first start)`,
        `Site CA fingerprint (SHA-256): ${e.caFingerprint}`,
      ].join('\n');
      return { human, json: e };
    },
  },
  {
    words: 'host revoke',
    usage: 'stratus host revoke HOST',
    summary: "Revoke a host's credentials: the broker ends its sessions and refuses it",
    args: 1,
    async run({ api, positionals }) {
      await api.request('POST', `/hosts/${encodeURIComponent(positionals[0]!)}/revoke`, {});
      return { human: `${positionals[0]} revoked`, json: { revoked: positionals[0] } };
    },
  },
];
