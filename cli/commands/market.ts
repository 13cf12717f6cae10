// `stratus market ...`: the site Marketplace. list/search/show entries, publish a signed entry
// (ENTRY.json + ENTRY.json.sig from `stratus image sign` or `ssh-keygen -Y sign`), deprecate an entry
// (a new version signed with the endorser's key), and for admins the trust store
// (`market trust add|list|revoke`) and the mirrors (`market mirrors [pull]`).

import { readFileSync } from 'node:fs';
import { deprecatedVersion, signEntry } from '../../common/marketplace-sign.ts';
import { fingerprintOf } from '../../common/sshsig.ts';
import type { MarketplaceEntry } from '../../protocol/marketplace.ts';
import { CliError, EXIT } from '../client.ts';
import type { Command } from '../command.ts';
import { fields, table } from '../output.ts';
import { loadPrivateKey } from './image-sign.ts';

interface Item {
  id: string;
  status: string;
  refused?: string;
  entry: MarketplaceEntry;
  signature: string;
  origin: string;
}

const rows = (items: Item[]) =>
  items.map((i) => ({
    id: i.id,
    status: i.refused ? 'refused' : i.status,
    endorser: i.entry.endorser.email,
    os: [i.entry.os, i.entry.osVersion].filter(Boolean).join(' ') || undefined,
    arch: i.entry.osArch,
    validUntil: i.entry.validUntil,
    title: i.entry.title,
    origin: i.origin,
  }));
const columns: [string, string][] = [
  ['id', 'ID'],
  ['status', 'STATUS'],
  ['endorser', 'ENDORSER'],
  ['os', 'OS'],
  ['arch', 'ARCH'],
  ['validUntil', 'VALID UNTIL'],
  ['title', 'TITLE'],
  ['origin', 'ORIGIN'],
];

function read(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code}`, EXIT.usage);
  }
}

const filters = {
  os: { type: 'string', value: 'OS', help: 'Only entries for this operating system' },
  arch: { type: 'string', value: 'ARCH', help: 'Only entries for this architecture' },
  endorser: { type: 'string', value: 'EMAIL', help: 'Only entries by this endorser' },
  tag: { type: 'string', value: 'TAG', help: 'Only entries with this tag' },
  status: { type: 'string', value: 'STATUS', help: 'valid (default), expired, deprecated or all' },
} as const;

function query(values: Record<string, unknown>, words: string[] = []): string {
  const q = new URLSearchParams();
  for (const k of ['os', 'arch', 'endorser', 'tag', 'status']) if (values[k]) q.set(k, String(values[k]));
  if (words.length > 0) q.set('q', words.join(' '));
  return q.size > 0 ? `?${q}` : '';
}

export const marketCommands: Command[] = [
  {
    words: 'market list',
    usage:
      'stratus market list [--status valid|expired|deprecated|all] [--os OS] [--arch ARCH] [--endorser EMAIL] [--tag TAG]',
    summary: 'List the entries of the site Marketplace',
    options: filters,
    async run({ api, values }) {
      const r = await api.request<{ items: Item[] }>('GET', `/marketplace${query(values)}`);
      return { human: table(rows(r.items), columns), json: r };
    },
  },
  {
    words: 'market search',
    usage: 'stratus market search [WORDS...] [--os OS] [--arch ARCH] [--endorser EMAIL] [--tag TAG] [--status S]',
    summary: 'Find Marketplace entries by words in their title or description, and by os, arch, endorser, tag',
    options: filters,
    async run({ api, values, positionals }) {
      const r = await api.request<{ items: Item[] }>('GET', `/marketplace${query(values, positionals)}`);
      return { human: table(rows(r.items), columns), json: r };
    },
  },
  {
    words: 'market show',
    usage: 'stratus market show ID',
    summary: 'Show the entries held for a Marketplace id',
    args: 1,
    async run({ api, positionals }) {
      const r = await api.request<{ items: Item[] }>('GET', `/marketplace/${encodeURIComponent(positionals[0]!)}`);
      if (r.items.length === 0) throw new CliError(`no Marketplace entry ${positionals[0]}`, EXIT.notFound);
      const human = r.items
        .map((i) =>
          fields({ status: i.refused ? `refused: ${i.refused}` : i.status, origin: i.origin, ...i.entry }, [
            'id',
            'status',
            'title',
            'description',
            'endorser',
            'created',
            'validUntil',
            'deprecated',
            'os',
            'osVersion',
            'osArch',
            'format',
            'compression',
            'hypervisor',
            'bytes',
            'checksums',
            'locations',
            'tags',
            'origin',
          ]),
        )
        .join('\n\n');
      return { human, json: r };
    },
  },
  {
    words: 'market publish',
    usage: 'stratus market publish ENTRY.json [--sig ENTRY.json.sig]',
    summary: 'Publish a signed entry to the site Marketplace',
    args: 1,
    options: { sig: { type: 'string', value: 'FILE', help: 'Signature file (default ENTRY.json.sig)' } },
    async run({ api, positionals, values }) {
      const file = positionals[0]!;
      let entry: unknown;
      try {
        entry = JSON.parse(read(file, 'entry'));
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw new CliError(`${file} is not JSON: ${(err as Error).message}`, EXIT.usage);
      }
      const signature = read((values['sig'] as string | undefined) ?? `${file}.sig`, 'signature');
      const r = await api.request<Item>('POST', '/marketplace', { entry, signature });
      return { human: `${r.id} published (${r.status})`, json: r };
    },
  },
  {
    words: 'market deprecate',
    usage: 'stratus market deprecate ID --key KEYFILE [--reason TEXT]',
    summary: 'Deprecate your entry: a new version saying so, signed with your key, is published',
    args: 1,
    options: {
      key: { type: 'string', value: 'KEYFILE', help: 'The OpenSSH private key the entry was signed with' },
      reason: { type: 'string', value: 'TEXT', help: 'Why (shown to users and sites)' },
    },
    async run({ api, positionals, values }) {
      if (!values['key']) throw new CliError('market deprecate needs --key', EXIT.usage);
      const key = loadPrivateKey(String(values['key']));
      const fp = fingerprintOf(key.publicBlob);
      const r = await api.request<{ items: Item[] }>('GET', `/marketplace/${encodeURIComponent(positionals[0]!)}`);
      const mine = r.items.find((i) => i.entry.endorser.key === fp);
      if (!mine) throw new CliError(`no entry ${positionals[0]} signed with key ${fp}`, EXIT.notFound);
      const entry = deprecatedVersion(mine.entry, String(values['reason'] ?? 'deprecated by its endorser'));
      const out = await api.request<Item>('POST', '/marketplace', { entry, signature: signEntry(entry, key) });
      return { human: `${out.id} deprecated`, json: out };
    },
  },
  {
    words: 'market trust',
    usage: 'stratus market trust add EMAIL KEY.pub [--comment TEXT] | list | revoke FINGERPRINT [--reason TEXT]',
    summary: 'The endorser keys this site trusts (admin)',
    args: 1,
    options: {
      comment: { type: 'string', value: 'TEXT', help: 'A note on the key (add)' },
      reason: { type: 'string', value: 'TEXT', help: 'Why the key is revoked (revoke)' },
    },
    async run({ api, positionals, values }) {
      const [action, a, b] = positionals;
      if (action === 'list') {
        const r = await api.request<{ items: Record<string, unknown>[] }>('GET', '/marketplace/trust');
        const view = r.items.map((k) => ({
          ...k,
          state: k['revokedAt'] ? `revoked: ${k['revokedReason']}` : 'trusted',
        }));
        return {
          human: table(view, [
            ['fingerprint', 'FINGERPRINT'],
            ['email', 'EMAIL'],
            ['state', 'STATE'],
            ['comment', 'COMMENT'],
          ]),
          json: r,
        };
      }
      if (action === 'add' && a && b) {
        const k = await api.request<{ fingerprint: string }>('POST', '/marketplace/trust', {
          email: a,
          publicKey: read(b, 'public key').trim(),
          ...(values['comment'] ? { comment: values['comment'] } : {}),
        });
        return { human: `${k.fingerprint} trusted for ${a}`, json: k };
      }
      if (action === 'revoke' && a) {
        const r = await api.request('POST', '/marketplace/trust/revoke', {
          fingerprint: a,
          ...(values['reason'] ? { reason: values['reason'] } : {}),
        });
        return { human: `${a} revoked`, json: r };
      }
      throw new CliError(`usage: stratus market trust add EMAIL KEY.pub | list | revoke FINGERPRINT`, EXIT.usage);
    },
  },
  {
    words: 'market mirrors',
    usage: 'stratus market mirrors [pull]',
    summary: 'The sites this one replicates and their last pull; `pull` pulls now (admin)',
    async run({ api, positionals }) {
      const pull = positionals[0] === 'pull';
      const r = await api.request<{ items: Record<string, unknown>[] }>(
        pull ? 'POST' : 'GET',
        `/marketplace/mirrors${pull ? '/pull' : ''}`,
      );
      const view = r.items.map((m) => {
        const res = m['result'] as { added: number; updated: number; refused: unknown[] } | null;
        return {
          ...m,
          summary: m['error'] ?? (res ? `+${res.added} ~${res.updated} refused ${res.refused.length}` : '-'),
        };
      });
      return {
        human: table(view, [
          ['url', 'URL'],
          ['ok', 'OK'],
          ['lastPullAt', 'LAST PULL'],
          ['summary', 'RESULT'],
        ]),
        json: r,
      };
    },
  },
];
