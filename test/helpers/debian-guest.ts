// The Debian cloud-init test guest (Debian 12, cloud-init, openssh-server; built from Debian packages by
// scripts/build-debian-guest.sh into /var/cache/stratus/debian-guest), registered with a controller as
// kernel, ramdisk and a qcow2 root disk that names them (direct kernel boot).

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControllerHandle } from './controller-process.ts';
import { integrationOnly } from './tier.ts';

export const DEBIAN_GUEST_DIR = process.env['STRATUS_DEBIAN_GUEST_DIR'] ?? '/var/cache/stratus/debian-guest';
const root = new URL('../..', import.meta.url).pathname;

export interface DebianGuestFiles {
  kernel: string;
  initrd: string;
  disk: string;
  cmdline: string;
  /** cloud-init's default user in the image (Debian's cloud.cfg). */
  defaultUser: string;
}

/** Builds the guest if it is missing (several minutes; scripts/setup-host.sh does it beforehand) and returns its files. */
export function debianGuest(): DebianGuestFiles {
  integrationOnly('the Debian test guest');
  if (!existsSync(join(DEBIAN_GUEST_DIR, 'manifest.json'))) {
    execFileSync('bash', [join(root, 'scripts/build-debian-guest.sh')], { stdio: 'inherit' });
  }
  const m = JSON.parse(readFileSync(join(DEBIAN_GUEST_DIR, 'manifest.json'), 'utf8')) as {
    cmdline: string;
    loginUser: string;
  };
  return {
    kernel: join(DEBIAN_GUEST_DIR, 'vmlinuz'),
    initrd: join(DEBIAN_GUEST_DIR, 'initrd.img'),
    disk: join(DEBIAN_GUEST_DIR, 'disk.qcow2'),
    cmdline: m.cmdline,
    defaultUser: m.loginUser,
  };
}

/** Uploads the guest through the CLI as public images; returns the disk image's id. */
export async function uploadDebianGuest(c: Pick<ControllerHandle, 'cli'>, name = 'debian'): Promise<string> {
  const g = debianGuest();
  const up = async (args: string[]) => {
    const r = await c.cli(['image', 'upload', ...args, '--quiet', '--json']);
    if (r.code !== 0) throw new Error(`image upload failed: ${r.stderr}`);
    return JSON.parse(r.stdout).id as string;
  };
  const kernel = await up([g.kernel, '--name', `${name}-kernel`, '--format', 'kernel', '--public']);
  const initrd = await up([g.initrd, '--name', `${name}-initrd`, '--format', 'ramdisk', '--public']);
  return up([
    g.disk,
    ...['--name', name, '--format', 'qcow2', '--kernel', kernel, '--ramdisk', initrd],
    ...['--cmdline', g.cmdline, '--public'],
  ]);
}
