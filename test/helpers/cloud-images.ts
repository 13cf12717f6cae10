// Registers the test guest with a controller through the CLI: its kernel and initrd as kernel/ramdisk
// images and its disk as a qcow2 image that names them (direct boot, as OpenStack's kernel_id).

import type { ControllerHandle } from './controller-process.ts';
import { testGuest } from './guest.ts';

export async function uploadTestGuest(
  c: Pick<ControllerHandle, 'cli'>,
  name = 'guest',
  extraCmdline = '',
): Promise<string> {
  const g = testGuest();
  const up = async (args: string[]) => {
    const r = await c.cli(['image', 'upload', ...args, '--quiet', '--json']);
    if (r.code !== 0) throw new Error(`image upload failed: ${r.stderr}`);
    return JSON.parse(r.stdout).id as string;
  };
  const kernel = await up([g.kernel, '--name', `${name}-kernel`, '--format', 'kernel', '--public']);
  const initrd = await up([g.initrd, '--name', `${name}-initrd`, '--format', 'ramdisk', '--public']);
  return up([
    g.disk,
    '--name',
    name,
    '--format',
    'qcow2',
    '--kernel',
    kernel,
    '--ramdisk',
    initrd,
    '--cmdline',
    `${g.cmdline} ${extraCmdline}`.trim(),
    '--public',
  ]);
}
