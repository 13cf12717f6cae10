// `stratus image ...`: list, show, register by URL + sha256, upload a file with a progress bar, delete.

import { createReadStream, statSync } from 'node:fs';
import { CliError, EXIT } from '../client.ts';
import type { Command, OptionSpec } from '../command.ts';
import { fields, ProgressBar, table } from '../output.ts';

type Image = Record<string, unknown> & { id: string };
const columns: [string, string][] = [
  ['id', 'ID'],
  ['name', 'NAME'],
  ['format', 'FORMAT'],
  ['state', 'STATE'],
  ['sizeBytes', 'BYTES'],
  ['owner', 'OWNER'],
  ['visibility', 'VISIBILITY'],
];
const meta = {
  os: { type: 'string', value: 'OS', help: 'Operating system of the image (e.g. debian-12)' },
  arch: { type: 'string', value: 'ARCH', help: 'CPU architecture (x86_64)' },
  endorser: { type: 'string', value: 'WHO', help: 'Who vouches for the image (e-mail or name)' },
  'expires-at': { type: 'string', value: 'DATE', help: 'ISO 8601 date after which VMs can no longer use it' },
  public: { type: 'boolean', help: 'Let every user launch it (default: only you)' },
  kernel: { type: 'string', value: 'IMAGE', help: 'Kernel image to boot it with directly (id or name)' },
  ramdisk: { type: 'string', value: 'IMAGE', help: 'Initrd image for direct kernel boot (id or name)' },
  cmdline: { type: 'string', value: 'TEXT', help: 'Kernel command line for direct kernel boot' },
} satisfies Record<string, OptionSpec>;

function metaOf(v: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [flag, key] of [
    ['os', 'os'],
    ['arch', 'arch'],
    ['endorser', 'endorser'],
    ['expires-at', 'expiresAt'],
    ['kernel', 'kernelImage'],
    ['ramdisk', 'ramdiskImage'],
    ['cmdline', 'cmdline'],
  ] as const) {
    if (v[flag] !== undefined) out[key] = v[flag];
  }
  if (v['public']) out['visibility'] = 'public';
  return out;
}

export const imageCommands: Command[] = [
  {
    words: 'image list',
    usage: 'stratus image list',
    summary: 'List the images you can use',
    async run({ api }) {
      const r = await api.request<{ items: Image[] }>('GET', '/images');
      return { human: table(r.items, columns), json: r };
    },
  },
  {
    words: 'image show',
    usage: 'stratus image show ID|NAME',
    summary: 'Show an image',
    args: 1,
    async run({ api, positionals }) {
      const img = await api.request<Image>('GET', `/images/${encodeURIComponent(positionals[0]!)}`);
      return { human: fields(img, Object.keys(img)), json: img };
    },
  },
  {
    words: 'image register',
    usage:
      'stratus image register NAME --url URL --sha256 HEX --format qcow2|raw|kernel|ramdisk [--os ..] [--kernel ID --ramdisk ID --cmdline ..] [--public]',
    summary: 'Register an image that agents download from a URL (verified by sha256)',
    args: 1,
    options: {
      url: { type: 'string', value: 'URL', help: 'Where agents download the image from' },
      sha256: { type: 'string', value: 'HEX', help: 'SHA-256 of the image (agents verify it)' },
      format: { type: 'string', value: 'FORMAT', help: 'qcow2, raw, kernel or ramdisk' },
      ...meta,
    },
    async run({ api, positionals, values }) {
      if (!values['url'] || !values['sha256'] || !values['format'])
        throw new CliError('image register needs --url, --sha256 and --format', EXIT.usage);
      const img = await api.request<Image>('POST', '/images', {
        name: positionals[0],
        url: values['url'],
        sha256: values['sha256'],
        format: values['format'],
        ...metaOf(values),
      });
      return { human: `${img.id} registered`, json: img };
    },
  },
  {
    words: 'image upload',
    usage:
      'stratus image upload FILE --name NAME --format qcow2|raw|kernel|ramdisk [--sha256 HEX] [--public] [--os OS] [--arch ARCH] [--endorser WHO] [--expires-at DATE] [--kernel IMAGE] [--ramdisk IMAGE] [--cmdline TEXT] [--quiet]',
    summary: 'Upload an image file to the controller (progress on stderr)',
    args: 1,
    options: {
      name: { type: 'string', value: 'NAME', help: 'Name of the image' },
      format: { type: 'string', value: 'FORMAT', help: 'qcow2, raw, kernel or ramdisk' },
      sha256: { type: 'string', value: 'HEX', help: 'Expected SHA-256 (the upload fails if it differs)' },
      quiet: { type: 'boolean', help: 'No progress bar' },
      ...meta,
    },
    async run({ api, positionals, values }) {
      const file = positionals[0]!;
      if (!values['name'] || !values['format'])
        throw new CliError('image upload needs --name and --format', EXIT.usage);
      let size: number;
      try {
        size = statSync(file).size;
      } catch (err) {
        throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`, EXIT.usage);
      }
      const q = new URLSearchParams({ name: String(values['name']), format: String(values['format']) });
      if (values['sha256']) q.set('sha256', String(values['sha256']));
      for (const [k, v] of Object.entries(metaOf(values))) q.set(k, String(v));
      const bar = values['quiet'] ? undefined : new ProgressBar(`uploading ${file}`, size);
      let sent = 0;
      const stream = createReadStream(file);
      stream.on('data', (chunk) => {
        sent += chunk.length;
        bar?.update(sent);
      });
      const img = await api.request<Image>('POST', `/images/upload?${q}`, undefined, {
        raw: stream,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      });
      bar?.done();
      return { human: `${img.id} uploaded (sha256 ${img['sha256']})`, json: img };
    },
  },
  {
    words: 'image delete',
    usage: 'stratus image delete ID|NAME',
    summary: 'Delete an image that no VM uses',
    args: 1,
    async run({ api, positionals }) {
      await api.request('DELETE', `/images/${encodeURIComponent(positionals[0]!)}`);
      return { human: `${positionals[0]} deleted`, json: { deleted: positionals[0] } };
    },
  },
];
