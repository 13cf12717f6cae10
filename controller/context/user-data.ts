// User data as cloud-init reads it: checked at VM creation (a #cloud-config document that parses as a
// YAML mapping, a script starting with #!, a MIME multipart message, or another cloud-init part type;
// at most 256 KiB) and composed with what Stratus itself asks of the guest (the login user with its
// SSH keys, the start script). When both exist, the guest gets one MIME multipart message: Stratus's
// #cloud-config first, the start script as a shell-script part, then the user's own data unchanged.

import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import { ValidationError } from '../../common/errors.ts';
import type { ContextRequest } from '../../protocol/context.ts';

export const MAX_USER_DATA_BYTES = 256 * 1024;

const q = (s: string) => JSON.stringify(s);
const list = (items: string[]) => `[${items.map(q).join(', ')}]`;

/** The MIME type cloud-init gives a part from its first line (its "starts with" rules). */
export function userDataKind(text: string): string | undefined {
  const first = text.slice(0, 256).split('\n', 1)[0]!.trimEnd();
  if (first === '#cloud-config') return 'text/cloud-config';
  if (first.startsWith('#!')) return 'text/x-shellscript';
  if (first === '#cloud-boothook') return 'text/cloud-boothook';
  if (first === '#include' || first === '#include-once') return 'text/x-include-url';
  if (first.startsWith('## template: jinja')) return 'text/jinja2';
  if (/^(content-type:\s*multipart\/|mime-version:)/i.test(first)) return 'multipart/mixed';
  return undefined;
}

/** Refuses user data cloud-init would not run, with a message saying what it expects. */
export function checkUserData(text: string): void {
  if (Buffer.byteLength(text, 'utf8') > MAX_USER_DATA_BYTES)
    throw new ValidationError(`user data is larger than ${MAX_USER_DATA_BYTES / 1024} KiB`);
  if (text.includes('\0')) throw new ValidationError('user data must be text (no NUL characters)');
  const kind = userDataKind(text);
  if (!kind)
    throw new ValidationError(
      'user data must start with #cloud-config, #! (a script) or be a MIME multipart message (Content-Type: multipart/...)',
    );
  if (kind === 'text/cloud-config') {
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (err) {
      throw new ValidationError(`user data: #cloud-config is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    if (doc !== null && (typeof doc !== 'object' || Array.isArray(doc)))
      throw new ValidationError('user data: a #cloud-config document must be a mapping');
  }
  if (kind === 'multipart/mixed' && !/boundary=/i.test(text.slice(0, 4096)))
    throw new ValidationError('user data: a MIME multipart message needs a boundary in its Content-Type');
}

/**
 * Stratus's own #cloud-config: the host name, the login user with sudo and the SSH keys, the swap disk,
 * the start script.
 */
export function stratusCloudConfig(req: ContextRequest, withStartScript: boolean): string {
  const lines = ['#cloud-config'];
  if (req.setHostname) lines.push(`hostname: ${q(req.hostname)}`);
  if (req.username) {
    lines.push(
      'users:',
      '  - default',
      `  - name: ${q(req.username)}`,
      '    shell: "/bin/bash"',
      '    sudo: "ALL=(ALL) NOPASSWD:ALL"',
      '    lock_passwd: true',
    );
    if (req.sshPublicKeys.length > 0) lines.push(`    ssh_authorized_keys: ${list(req.sshPublicKeys)}`);
  }
  if (req.sshPublicKeys.length > 0) lines.push(`ssh_authorized_keys: ${list(req.sshPublicKeys)}`);
  if (req.swapDevice) {
    // the type's swap disk: formatted as swap and enabled at every boot
    lines.push(
      'fs_setup:',
      `  - device: ${q(req.swapDevice)}`,
      '    filesystem: "swap"',
      'mounts:',
      `  - [${q(req.swapDevice)}, "none", "swap", "sw", "0", "0"]`,
    );
  }
  if (withStartScript && req.startScript !== undefined) {
    lines.push(
      'write_files:',
      '  - path: "/var/lib/stratus/start-script"',
      '    permissions: "0700"',
      '    encoding: "b64"',
      `    content: ${q(Buffer.from(req.startScript, 'utf8').toString('base64'))}`,
      'runcmd:',
      '  - ["/var/lib/stratus/start-script"]',
    );
  }
  return `${lines.join('\n')}\n`;
}

const nl = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);

/**
 * The user data the guest gets: Stratus's #cloud-config alone, the user's data alone when Stratus has
 * nothing to add (no login user, no start script, no swap disk), or both in one MIME multipart message.
 */
export function composeUserData(req: ContextRequest): string {
  const user = req.userData;
  if (user === undefined) return stratusCloudConfig(req, true);
  if (!req.username && req.startScript === undefined && !req.swapDevice) return nl(user);
  let boundary = `stratus-${randomBytes(12).toString('hex')}`;
  while (user.includes(boundary)) boundary = `stratus-${randomBytes(12).toString('hex')}`;
  const part = (type: string, body: string) =>
    [`--${boundary}`, `Content-Type: ${type}; charset="utf-8"`, 'MIME-Version: 1.0', '', nl(body)].join('\n');
  const parts = [part('text/cloud-config', stratusCloudConfig(req, false))];
  if (req.startScript !== undefined) {
    const script = req.startScript.startsWith('#!') ? req.startScript : `#!/bin/sh\n${req.startScript}`;
    parts.push(part('text/x-shellscript', script));
  }
  // a multipart document is nested with its own headers; any other part gets the type of its first line
  const kind = userDataKind(user);
  parts.push(kind === 'multipart/mixed' ? `--${boundary}\n${nl(user)}` : part(kind ?? 'text/plain', user));
  return [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    'MIME-Version: 1.0',
    '',
    ...parts,
    `--${boundary}--`,
    '',
  ].join('\n');
}
