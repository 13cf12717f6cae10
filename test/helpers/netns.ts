// Network namespaces as DHCP clients and traffic sources for tests: a namespace whose `eth0` is one end of
// a veth pair plugged into a bridge (or left free), busybox udhcpc for IPv4, dhclient -6 for DHCPv6, the
// SLAAC address the kernel takes from router advertisements, and a tiny TCP/UDP listener and prober.
// Every name carries a random suffix; `cleanup()` removes what was made.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { addNetns, addVeth, deleteLink, deleteNetns, ip, linkUp, setMaster } from '../../drivers/net-links.ts';
import { integrationOnly } from './tier.ts';

const run = promisify(execFile);

export function suffix(): string {
  return randomBytes(3).toString('hex');
}

export interface NsClient {
  ns: string;
  /** Host side of the veth pair. */
  hostDev: string;
  mac: string;
  exec: (argv: string[], timeoutMs?: number) => Promise<{ stdout: string; stderr: string; code: number }>;
  cleanup: () => Promise<void>;
}

const scriptDir = mkdtempSync(join(tmpdir(), 'stratus-netns-'));
process.once('exit', () => rmSync(scriptDir, { recursive: true, force: true }));
const UDHCPC = join(scriptDir, 'udhcpc.sh');
writeFileSync(
  UDHCPC,
  '#!/bin/sh\n[ "$1" = bound ] && echo "BOUND ip=$ip mask=$mask router=$router dns=$dns" && ip addr add "$ip/$mask" dev "$interface"\nexit 0\n',
);
chmodSync(UDHCPC, 0o755);
const DHCLIENT = join(scriptDir, 'dhclient6.sh');
writeFileSync(
  DHCLIENT,
  '#!/bin/sh\necho "DH6 reason=$reason ip=$new_ip6_address dns=$new_dhcp6_name_servers"\nexit 0\n',
);
chmodSync(DHCLIENT, 0o755);

/** A namespace with `eth0` (MAC `mac`), whose host end is plugged into `bridge` when given. */
export async function nsClient(mac: string, bridge?: string): Promise<NsClient> {
  integrationOnly('nsClient (network namespaces)');
  const s = suffix();
  const ns = `stratus-t-${s}`;
  const hostDev = `sv${s}`;
  await addNetns(ns);
  await addVeth(hostDev, `sp${s}`, { peerNetns: ns, peerMac: mac });
  await ip(['link', 'set', `sp${s}`, 'name', 'eth0'], ns);
  await ip(['link', 'set', 'eth0', 'address', mac], ns);
  await linkUp('eth0', ns);
  if (bridge) await setMaster(hostDev, bridge);
  await linkUp(hostDev);
  const exec = async (argv: string[], timeoutMs = 20_000) => {
    try {
      const r = await run('ip', ['netns', 'exec', ns, ...argv], { timeout: timeoutMs });
      return { stdout: r.stdout, stderr: r.stderr, code: 0 };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; code?: number };
      return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 };
    }
  };
  return {
    ns,
    hostDev,
    mac,
    exec,
    cleanup: async () => {
      await deleteNetns(ns);
      await deleteLink(hostDev).catch(() => undefined);
    },
  };
}

export interface V4Lease {
  ip: string;
  mask: string;
  router: string;
  dns: string;
}

/** busybox udhcpc once (tries × 1 s); the lease it got, or null. */
export async function udhcpc(c: NsClient, tries = 3): Promise<V4Lease | null> {
  const r = await c.exec(['busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', String(tries), '-T', '1', '-s', UDHCPC]);
  const m = /BOUND ip=(\S*) mask=(\S*) router=(\S*) dns=(.*)/.exec(r.stdout);
  return m ? { ip: m[1]!, mask: m[2]!, router: m[3]!, dns: m[4]!.trim() } : null;
}

/** dhclient -6 in the foreground until it binds (its address) or `timeoutMs` passes (null). */
export async function dhcp6(c: NsClient, timeoutMs = 8000): Promise<string | null> {
  // dhclient cannot bind while the link-local address is still tentative (duplicate detection)
  for (let i = 0; i < 50; i++) {
    const r = await c.exec(['ip', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']);
    if (/inet6 fe80/.test(r.stdout) && !/tentative/.test(r.stdout)) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const dir = mkdtempSync(join(tmpdir(), 'stratus-dh6-'));
  const child: ChildProcess = spawn(
    'ip',
    [
      'netns',
      'exec',
      c.ns,
      'dhclient',
      '-6',
      '-d',
      '-1',
      '-sf',
      DHCLIENT,
      '-lf',
      join(dir, 'leases'),
      '-pf',
      join(dir, 'pid'),
      'eth0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  try {
    return await new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      const onData = (b: Buffer) => {
        out += b;
        const m = /DH6 reason=(BOUND6|REBOOT6|RENEW6) ip=(\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[2]!);
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(null);
      });
    });
  } finally {
    if (child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Global IPv6 addresses of eth0 in the namespace (SLAAC ones appear after a router advertisement). */
export async function globalV6(c: NsClient): Promise<string[]> {
  const r = await c.exec(['ip', '-j', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global']);
  const j = JSON.parse(r.stdout || '[]') as { addr_info?: { local: string }[] }[];
  return (j[0]?.addr_info ?? []).map((a) => a.local);
}
