// `stratus image sign` and `stratus image verify`: an endorser's tools, used without a controller.
// sign hashes the image (SHA-256, SHA-512, SHA-1, MD5), writes the Marketplace entry in canonical JSON to
// ENTRY.json and its SSH signature (namespace stratus-image) to ENTRY.json.sig, as
// `ssh-keygen -Y sign -n stratus-image ENTRY.json` would. verify checks image, entry and signature
// against trusted keys (--trust KEY.pub, --allowed-signers FILE in ssh-keygen's format, or
// ~/.config/stratus/allowed_signers) and exits 0, or 1 with the reason.

import { createReadStream, existsSync, openSync, readFileSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FileTrust, parseAllowedSigners, type TrustedKeyLine } from '../../common/allowed-signers.ts';
import { buildEntry, signEntry } from '../../common/marketplace-sign.ts';
import { digestStream, type FileDigests, verifyEntry } from '../../common/marketplace-verify.ts';
import { parseOpensshPrivateKey } from '../../common/openssh-private-key.ts';
import { signingKeyFromLine } from '../../common/sshsig.ts';
import { canonicalJson } from '../../protocol/marketplace.ts';
import { CliError, EXIT } from '../client.ts';
import type { Command } from '../command.ts';
import { configPath } from '../config.ts';

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code}`, EXIT.usage);
  }
}

export async function digestFile(file: string): Promise<FileDigests> {
  try {
    return await digestStream(createReadStream(file));
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`, EXIT.usage);
  }
}

function sniffFormat(file: string): 'qcow2' | 'raw' {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    readSync(fd, b, 0, 4, 0);
    return b.equals(Buffer.from([0x51, 0x46, 0x49, 0xfb])) ? 'qcow2' : 'raw';
  } finally {
    closeSync(fd);
  }
}

export function loadPrivateKey(file: string) {
  try {
    return parseOpensshPrivateKey(readText(file, 'key'));
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`${file}: ${(err as Error).message}`, EXIT.usage);
  }
}

/** Trust from --trust, --allowed-signers and --revoked, or the default allowed_signers file. */
function trustFrom(v: Record<string, unknown>): FileTrust {
  const lines: TrustedKeyLine[] = [];
  const list = (k: string) => (v[k] as string[] | undefined) ?? [];
  try {
    for (const f of list('trust')) {
      lines.push({ principals: ['*'], fingerprint: signingKeyFromLine(readText(f, 'key')).fingerprint });
    }
    let signers = list('allowed-signers');
    const def = join(dirname(configPath()), 'allowed_signers');
    if (signers.length === 0 && lines.length === 0) {
      if (!existsSync(def)) {
        throw new CliError(
          `give trusted keys with --trust KEY.pub or --allowed-signers FILE (or write ${def})`,
          EXIT.usage,
        );
      }
      signers = [def];
    }
    for (const f of signers) lines.push(...parseAllowedSigners(readText(f, 'allowed signers file')));
    const revoked = new Set<string>();
    for (const f of list('revoked')) {
      for (const l of readText(f, 'revoked keys file').split('\n')) {
        if (l.trim() && !l.trim().startsWith('#')) revoked.add(signingKeyFromLine(l).fingerprint);
      }
    }
    return new FileTrust(lines, revoked);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError((err as Error).message, EXIT.usage);
  }
}

export const imageSignCommands: Command[] = [
  {
    words: 'image sign',
    usage:
      'stratus image sign FILE --key KEYFILE --endorser EMAIL [--os OS] [--os-version V] [--arch ARCH] [--location URL]... [--valid-days N] [--title T] [--description D] [--tag T]... [--format qcow2|raw] [--out ENTRY.json]',
    summary: 'Write a signed Marketplace entry for an image (ENTRY.json and ENTRY.json.sig)',
    args: 1,
    options: {
      key: { type: 'string', value: 'KEYFILE', help: 'OpenSSH private key (ed25519 or rsa, unencrypted)' },
      endorser: { type: 'string', value: 'EMAIL', help: 'Your e-mail address, as the sites trust it' },
      name: { type: 'string', value: 'NAME', help: 'Your name, shown with the entry' },
      os: { type: 'string', value: 'OS', help: 'Operating system (debian)' },
      'os-version': { type: 'string', value: 'V', help: 'Operating system version (12)' },
      arch: { type: 'string', value: 'ARCH', help: 'CPU architecture (x86_64)' },
      location: { type: 'string', value: 'URL', multiple: true, help: 'Where sites download the image' },
      'valid-days': { type: 'string', value: 'N', help: 'Days the entry stays valid (default 365)' },
      title: { type: 'string', value: 'TEXT', help: 'One-line title' },
      description: { type: 'string', value: 'TEXT', help: 'Description' },
      tag: { type: 'string', value: 'TAG', multiple: true, help: 'A tag to search by' },
      format: { type: 'string', value: 'FORMAT', help: 'qcow2 or raw (default: read from the file)' },
      out: { type: 'string', value: 'FILE', help: 'Entry file (default FILE.entry.json; signature in OUT.sig)' },
    },
    async run({ positionals, values }) {
      const file = positionals[0]!;
      if (!values['key'] || !values['endorser'])
        throw new CliError('image sign needs --key and --endorser', EXIT.usage);
      const days = Number(values['valid-days'] ?? 365);
      if (!Number.isInteger(days) || days < 1 || days > 36500)
        throw new CliError('--valid-days must be a whole number of days from 1 to 36500', EXIT.usage);
      const key = loadPrivateKey(String(values['key']));
      const digests = await digestFile(file);
      const compression = /\.gz$/.test(file) ? 'gz' : /\.xz$/.test(file) ? 'xz' : 'none';
      const format =
        (values['format'] as string | undefined) ?? (compression === 'none' ? sniffFormat(file) : undefined);
      if (format !== 'qcow2' && format !== 'raw') throw new CliError('--format must be qcow2 or raw', EXIT.usage);
      const entry = buildEntry(digests, key.publicBlob, {
        email: String(values['endorser']),
        name: values['name'] as string | undefined,
        format,
        compression,
        validDays: days,
        locations: values['location'] as string[] | undefined,
        os: values['os'] as string | undefined,
        osVersion: values['os-version'] as string | undefined,
        osArch: values['arch'] as string | undefined,
        title: values['title'] as string | undefined,
        description: values['description'] as string | undefined,
        tags: values['tag'] as string[] | undefined,
      });
      // the entry must be one this site's checks accept (shape) before it is signed
      const check = verifyEntry(
        { entry, signature: signEntry(entry, key) },
        { trust: { check: () => ({ trusted: true }) } },
      );
      if (!check.ok && check.rule === 'schema') throw new CliError(check.reason, EXIT.usage);
      const out = (values['out'] as string | undefined) ?? `${file}.entry.json`;
      writeFileSync(out, canonicalJson(entry));
      writeFileSync(`${out}.sig`, signEntry(entry, key));
      return {
        human: `${out} and ${out}.sig written (id ${entry.id})`,
        json: { entry, file: out, signature: `${out}.sig` },
      };
    },
  },
  {
    words: 'image verify',
    usage:
      'stratus image verify FILE ENTRY.json [--sig ENTRY.json.sig] [--trust KEY.pub]... [--allowed-signers FILE]... [--revoked KEYS]...',
    summary: 'Check an image against its signed Marketplace entry (exit 0, or 1 with the reason)',
    args: 2,
    options: {
      sig: { type: 'string', value: 'FILE', help: 'Signature file (default ENTRY.json.sig)' },
      trust: { type: 'string', value: 'KEY.pub', multiple: true, help: 'A trusted endorser key (any e-mail)' },
      'allowed-signers': {
        type: 'string',
        value: 'FILE',
        multiple: true,
        help: 'Trusted keys per e-mail, in ssh-keygen allowed_signers format',
      },
      revoked: { type: 'string', value: 'FILE', multiple: true, help: 'Public keys that are revoked (one per line)' },
    },
    async run({ positionals, values }) {
      const [file, entryFile] = positionals as [string, string];
      const trust = trustFrom(values);
      let entry: unknown;
      try {
        entry = JSON.parse(readText(entryFile, 'entry'));
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw new CliError(`${entryFile} is not JSON: ${(err as Error).message}`, EXIT.api);
      }
      const signature = readText((values['sig'] as string | undefined) ?? `${entryFile}.sig`, 'signature');
      const v = verifyEntry({ entry, signature }, { trust, file: await digestFile(file) });
      if (!v.ok) throw new CliError(v.reason, EXIT.api, `STRATUS_ERR_IMAGE_${v.rule.toUpperCase().replace(/-/g, '_')}`);
      return {
        human: `${file}: good entry ${v.entry.id} by ${v.entry.endorser.email} (key ${v.key.fingerprint}), valid until ${v.entry.validUntil}`,
        json: { ok: true, id: v.entry.id, endorser: v.entry.endorser, validUntil: v.entry.validUntil },
      };
    },
  },
];
