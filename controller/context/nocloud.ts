// The NoCloud context flavour for cloud-init, on a CD-ROM labelled `cidata`: `meta-data` (instance id,
// host name), `user-data` (the user's own and/or a #cloud-config with the login user, SSH keys and start script)
// and `network-config` (version 2: each NIC matched by MAC, static addresses or DHCP). Every string is
// written as a JSON string, which is a valid YAML double-quoted scalar, so no value can change the YAML.

import type { ContextNic, ContextRequest } from '../../protocol/context.ts';
import { composeUserData } from './user-data.ts';

const q = (s: string) => JSON.stringify(s);
const list = (items: string[]) => `[${items.map(q).join(', ')}]`;

export function renderMetaData(req: ContextRequest): string {
  const lines = [`instance-id: ${q(req.vmId)}`, `local-hostname: ${q(req.hostname)}`];
  if (req.sshPublicKeys.length > 0) lines.push(`public-keys: ${list(req.sshPublicKeys)}`);
  for (const [k, v] of Object.entries(req.variables).sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`${q(k.toLowerCase())}: ${q(v)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The user's data, Stratus's #cloud-config (login user, keys, start script), or both (user-data.ts). */
export function renderUserData(req: ContextRequest): string {
  return composeUserData(req);
}

export function renderNetworkConfig(req: ContextRequest, nics: readonly ContextNic[]): string {
  const lines = ['version: 2', 'ethernets:'];
  nics.forEach((n, i) => {
    lines.push(`  eth${i}:`, '    match:', `      macaddress: ${q(n.mac)}`, `    set-name: ${q(`eth${i}`)}`);
    if (req.addressing === 'dhcp') {
      lines.push('    dhcp4: true', `    dhcp6: ${n.ipv6 !== undefined}`);
      return;
    }
    const addrs: string[] = [];
    if (n.ipv4 !== undefined) addrs.push(`${n.ipv4}/${n.prefix4 ?? 24}`);
    if (n.ipv6 !== undefined) addrs.push(`${n.ipv6}/${n.prefix6 ?? 64}`);
    lines.push('    dhcp4: false');
    if (addrs.length > 0) lines.push(`    addresses: ${list(addrs)}`);
    if (n.gateway4) lines.push(`    gateway4: ${q(n.gateway4)}`);
    if (n.gateway6) lines.push(`    gateway6: ${q(n.gateway6)}`);
    const dns = [...(n.dns4 ?? []), ...(n.dns6 ?? [])];
    if (dns.length > 0) lines.push('    nameservers:', `      addresses: ${list(dns)}`);
  });
  if (nics.length === 0) lines[1] = 'ethernets: {}';
  return `${lines.join('\n')}\n`;
}

export function nocloudFiles(req: ContextRequest, nics: readonly ContextNic[]): Record<string, string> {
  return {
    'meta-data': renderMetaData(req),
    'user-data': renderUserData(req),
    'network-config': renderNetworkConfig(req, nics),
  };
}
