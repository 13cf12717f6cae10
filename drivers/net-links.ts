// Network links on the host, read from sysfs: whether a bridge exists. (Creating bridges with `ip`
// comes with the networks feature.)

import { stat } from 'node:fs/promises';

export async function bridgeExists(name: string): Promise<boolean> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) return false;
  try {
    return (await stat(`/sys/class/net/${name}/bridge`)).isDirectory();
  } catch {
    return false;
  }
}
