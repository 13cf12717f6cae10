// Control of the host's libvirtd for tests (there is no systemd here): restart it, check it answers.

import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { waitFor } from './wait.ts';
import { integrationOnly } from './tier.ts';

const ownNet = readlinkSync('/proc/self/ns/net');

/** Processes named `name` in this network namespace: never the lab's libvirtd instances (docs/lab.md). */
function pids(name: string): number[] {
  try {
    return execFileSync('pgrep', ['-x', name], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((p) => {
        try {
          return readlinkSync(`/proc/${p}/ns/net`) === ownNet;
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
}

export function virsh(...args: string[]): string {
  integrationOnly('virsh (the host libvirtd)');
  return execFileSync('virsh', ['-c', 'qemu:///system', ...args], { encoding: 'utf8' });
}

/** Stops libvirtd (SIGTERM; running QEMU guests survive) and starts it again. */
export async function restartLibvirtd(): Promise<void> {
  integrationOnly('restartLibvirtd');
  for (const p of pids('libvirtd')) process.kill(p, 'SIGTERM');
  await waitFor('libvirtd to exit', () => pids('libvirtd').length === 0, 20_000);
  execFileSync('/usr/sbin/libvirtd', ['-d']);
  await waitFor('libvirtd to answer', () => {
    virsh('version');
    return true;
  });
}

export function qemuPid(domainName: string): number | undefined {
  try {
    const out = execFileSync('pgrep', ['-f', `guest=${domainName}`], { encoding: 'utf8' }).trim();
    return Number(out.split('\n')[0]);
  } catch {
    return undefined;
  }
}
