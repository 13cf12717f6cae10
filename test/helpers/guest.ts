// The project's test guest (kernel + busybox initramfs built from Debian packages by
// scripts/build-test-guest.sh), and specs that boot it.

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import { integrationOnly } from './tier.ts';

export const GUEST_DIR = process.env['STRATUS_GUEST_DIR'] ?? '/var/cache/stratus/test-guest';
const root = new URL('../..', import.meta.url).pathname;

export interface GuestFiles {
  kernel: string;
  initrd: string;
  disk: string;
  cmdline: string;
}

let cached: GuestFiles | undefined;

/** Builds the guest if needed (cached between runs) and returns its files. */
export function testGuest(): GuestFiles {
  integrationOnly('the test guest');
  if (cached) return cached;
  if (!existsSync(join(GUEST_DIR, 'manifest.json'))) {
    execFileSync('bash', [join(root, 'scripts/build-test-guest.sh')], { stdio: 'inherit' });
  }
  const m = JSON.parse(readFileSync(join(GUEST_DIR, 'manifest.json'), 'utf8')) as { cmdline?: string };
  cached = {
    kernel: join(GUEST_DIR, 'vmlinuz'),
    initrd: join(GUEST_DIR, 'initrd.img'),
    disk: join(GUEST_DIR, 'disk.qcow2'),
    cmdline: m.cmdline ?? 'console=ttyS0 quiet panic=-1',
  };
  return cached;
}

export function guestSpec(over: Partial<VmSpec> = {}, extraCmdline = ''): VmSpec {
  const g = testGuest();
  return {
    id: randomUUID(),
    name: 'test-guest',
    vcpus: 1,
    memoryMiB: 192,
    boot: { kernel: g.kernel, initrd: g.initrd, cmdline: `${g.cmdline} ${extraCmdline}`.trim() },
    disks: [],
    cdroms: [],
    nics: [],
    ...over,
  };
}

export const BOOT_LINE = 'STRATUS-GUEST-BOOTED';
