// Network links on the host: bridges (read from sysfs, made with `ip`), VLAN sub-interfaces enslaved to
// them, addresses on a bridge, veth pairs and network namespaces (for the DHCP and firewall tests).
// Every command is `ip` run by execFile with an argument array; every "ensure" is idempotent.

import { execFile } from 'node:child_process';
import { readFile, readlink, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { StratusError } from '../common/errors.ts';

const run = promisify(execFile);
const NAME = /^[A-Za-z0-9_.-]{1,15}$/;

export class LinkError extends StratusError {
  constructor(message: string, details: Record<string, unknown>) {
    super('STRATUS_ERR_LINK', message, { status: 500, details });
  }
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw new LinkError(`${JSON.stringify(name)} is not a valid interface name`, { name });
}

function checkNetns(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name))
    throw new LinkError(`${JSON.stringify(name)} is not a valid netns name`, { name });
}

/** Runs `ip` with `args`; failures become LinkError with ip's message. */
export async function ip(args: string[], netns?: string): Promise<string> {
  const argv = netns ? ['-n', netns, ...args] : args;
  try {
    return (await run('ip', argv, { maxBuffer: 4 << 20 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new LinkError(`ip ${argv.join(' ')}: ${(e.stderr || e.message).trim()}`, { argv });
  }
}

export async function linkExists(name: string): Promise<boolean> {
  if (!NAME.test(name)) return false;
  try {
    await stat(`/sys/class/net/${name}`);
    return true;
  } catch {
    return false;
  }
}

export async function bridgeExists(name: string): Promise<boolean> {
  if (!NAME.test(name)) return false;
  try {
    return (await stat(`/sys/class/net/${name}/bridge`)).isDirectory();
  } catch {
    return false;
  }
}

/** The bridge a link is enslaved to, or undefined. */
export async function masterOf(name: string): Promise<string | undefined> {
  try {
    return (await readlink(`/sys/class/net/${name}/master`)).split('/').pop();
  } catch {
    return undefined;
  }
}

export interface BridgeOptions {
  /** A physical device to enslave; with `vlan`, its sub-interface `<device>.<vlan>` is made and enslaved. */
  uplink?: { device: string; vlan?: number | undefined } | undefined;
  mtu?: number | undefined;
}

/**
 * Makes the bridge (and its uplink) if missing and brings it up. Returns whether the bridge was created;
 * a bridge created here is deleted again when its uplink cannot be set up (nothing half-made).
 */
export async function ensureBridge(name: string, opts: BridgeOptions = {}): Promise<boolean> {
  checkName(name);
  let created = false;
  if (!(await bridgeExists(name))) {
    if (await linkExists(name)) throw new LinkError(`${name} exists and is not a bridge`, { name });
    try {
      await ip(['link', 'add', 'name', name, ...(opts.mtu ? ['mtu', String(opts.mtu)] : []), 'type', 'bridge']);
      created = true;
    } catch (err) {
      if (!(await bridgeExists(name))) throw err; // else: another caller made it meanwhile
    }
  }
  try {
    await plugUplink(name, opts.uplink);
  } catch (err) {
    if (created) await deleteLink(name).catch(() => undefined);
    throw err;
  }
  await ip(['link', 'set', name, 'up']);
  return created;
}

async function plugUplink(name: string, uplink: BridgeOptions['uplink']): Promise<void> {
  if (uplink) {
    const { device, vlan } = uplink;
    checkName(device);
    let port = device;
    if (vlan !== undefined) {
      port = `${device}.${vlan}`;
      checkName(port);
      if (!(await linkExists(port))) {
        await ip(['link', 'add', 'link', device, 'name', port, 'type', 'vlan', 'id', String(vlan)]).catch(
          async (err) => {
            if (!(await linkExists(port))) throw err;
          },
        );
      }
    }
    if ((await masterOf(port)) !== name) await ip(['link', 'set', port, 'master', name]);
    await ip(['link', 'set', port, 'up']);
  }
}

/** Deletes a bridge and the VLAN sub-interface made for it; a missing bridge is fine. */
export async function deleteBridge(
  name: string,
  uplink?: { device: string; vlan?: number | undefined },
): Promise<void> {
  checkName(name);
  if (uplink?.vlan !== undefined) await deleteLink(`${uplink.device}.${uplink.vlan}`);
  await deleteLink(name);
}

export async function deleteLink(name: string, netns?: string): Promise<void> {
  checkName(name);
  await ip(['link', 'del', name], netns).catch((err: LinkError) => {
    if (!/Cannot find device|does not exist/.test(err.message)) throw err;
  });
}

/** Adds `cidr` (a.b.c.d/n or v6/n) to a link unless it is already there. IPv6 skips duplicate detection. */
export async function ensureAddress(dev: string, cidr: string, netns?: string): Promise<void> {
  checkName(dev);
  const v6 = cidr.includes(':');
  const args = ['addr', 'replace', cidr, 'dev', dev, ...(v6 ? ['nodad'] : [])];
  await ip(v6 ? ['-6', ...args] : args, netns);
}

export async function linkUp(dev: string, netns?: string): Promise<void> {
  checkName(dev);
  await ip(['link', 'set', dev, 'up'], netns);
}

/** A veth pair; `peerNetns` moves the peer into that namespace. */
export async function addVeth(name: string, peer: string, opts: { peerNetns?: string; peerMac?: string } = {}) {
  checkName(name);
  checkName(peer);
  await ip([
    'link',
    'add',
    name,
    'type',
    'veth',
    'peer',
    'name',
    peer,
    ...(opts.peerMac ? ['address', opts.peerMac] : []),
  ]);
  if (opts.peerNetns) await ip(['link', 'set', peer, 'netns', opts.peerNetns]);
}

/** A tap device (what libvirt makes for a VM NIC). */
export async function addTap(name: string): Promise<void> {
  checkName(name);
  await ip(['tuntap', 'add', 'dev', name, 'mode', 'tap']);
}

export async function setMaster(dev: string, bridge: string): Promise<void> {
  checkName(dev);
  checkName(bridge);
  await ip(['link', 'set', dev, 'master', bridge]);
}

export async function addNetns(name: string): Promise<void> {
  checkNetns(name);
  await ip(['netns', 'add', name]);
  await ip(['link', 'set', 'lo', 'up'], name);
}

export async function deleteNetns(name: string): Promise<void> {
  checkNetns(name);
  await ip(['netns', 'del', name]).catch((err: LinkError) => {
    if (!/No such file|Invalid netns/.test(err.message)) throw err;
  });
}

/** Addresses of a link, as `addr/prefix` strings (scope global unless `all`). */
export async function addresses(dev: string, netns?: string, all = false): Promise<string[]> {
  const out = JSON.parse(await ip(['-j', 'addr', 'show', 'dev', dev], netns)) as {
    addr_info?: { local: string; prefixlen: number; scope: string }[];
  }[];
  return (out[0]?.addr_info ?? []).filter((a) => all || a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
}

export async function macOf(dev: string): Promise<string> {
  checkName(dev);
  return (await readFile(`/sys/class/net/${dev}/address`, 'utf8')).trim();
}
