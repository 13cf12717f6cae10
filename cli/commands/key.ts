// `stratus key ...`: the user's SSH public keys (add, list, delete, default). `key add NAME` without a
// file reads ~/.ssh/id_ed25519.pub, then ~/.ssh/id_rsa.pub; VMs created without --key get the default.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError, EXIT } from '../client.ts';
import type { Command } from '../command.ts';
import { table } from '../output.ts';

type Key = { name: string; type: string; bits: number; fingerprint: string; comment: string; default: boolean };

const columns: [string, string][] = [
  ['name', 'NAME'],
  ['type', 'TYPE'],
  ['bits', 'BITS'],
  ['fingerprint', 'FINGERPRINT'],
  ['comment', 'COMMENT'],
  ['default', 'DEFAULT'],
];

/** The public key to add: the file given, or the user's usual OpenSSH public key. */
function readPublicKey(file: string | undefined): { text: string; path: string } {
  const candidates = file ? [file] : [join(homedir(), '.ssh', 'id_ed25519.pub'), join(homedir(), '.ssh', 'id_rsa.pub')];
  for (const path of candidates) {
    try {
      return { text: readFileSync(path, 'utf8'), path };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (file || code !== 'ENOENT') throw new CliError(`cannot read ${path}: ${code}`, EXIT.usage);
    }
  }
  throw new CliError(
    `no public key found (${candidates.join(', ')}); create one with ssh-keygen -t ed25519 or give a FILE`,
    EXIT.usage,
  );
}

const mark = (k: Key) => ({ ...k, default: k.default ? '*' : '' });

export const keyCommands: Command[] = [
  {
    words: 'key add',
    usage: 'stratus key add NAME [FILE] [--default]',
    summary: 'Add an SSH public key (default ~/.ssh/id_ed25519.pub, then ~/.ssh/id_rsa.pub)',
    args: 1,
    options: { default: { type: 'boolean', help: 'Make it your default key (your first key always is)' } },
    async run({ api, positionals, values }) {
      const { text, path } = readPublicKey(positionals[1]);
      if (/PRIVATE KEY/.test(text)) throw new CliError(`${path} is a private key; give the .pub file`, EXIT.usage);
      const k = await api.request<Key>('POST', '/keys', {
        name: positionals[0],
        publicKey: text.trim(),
        ...(values['default'] ? { default: true } : {}),
      });
      return { human: `${k.name} ${k.type} ${k.fingerprint}${k.default ? ' (default)' : ''}`, json: k };
    },
  },
  {
    words: 'key list',
    usage: 'stratus key list',
    summary: 'List your SSH keys with their fingerprints (* marks the default)',
    async run({ api }) {
      const r = await api.request<{ items: Key[] }>('GET', '/keys');
      return { human: table(r.items.map(mark), columns), json: r };
    },
  },
  {
    words: 'key show',
    usage: 'stratus key show NAME',
    summary: 'Show one of your SSH keys, with the public key line',
    args: 1,
    async run({ api, positionals }) {
      const k = await api.request<Key & { publicKey: string }>('GET', `/keys/${encodeURIComponent(positionals[0]!)}`);
      return { human: `${table([mark(k)], columns)}\n${k.publicKey}`, json: k };
    },
  },
  {
    words: 'key default',
    usage: 'stratus key default NAME',
    summary: 'Make a key your default (VMs created without --key get it)',
    args: 1,
    async run({ api, positionals }) {
      const k = await api.request<Key>('POST', `/keys/${encodeURIComponent(positionals[0]!)}/default`, {});
      return { human: `${k.name} is your default key`, json: k };
    },
  },
  {
    words: 'key delete',
    usage: 'stratus key delete NAME...',
    summary: 'Delete SSH keys (VMs keep the keys they were created with)',
    args: 1,
    async run({ api, positionals }) {
      for (const n of positionals) await api.request('DELETE', `/keys/${encodeURIComponent(n)}`);
      return { human: positionals.map((n) => `${n} deleted`).join('\n'), json: { deleted: positionals } };
    },
  },
];
