// Fills a WorldSnapshot (invariants.ts) from the real sources of a fault-injection site: the controller's
// REST API (VMs, leases, volumes and their attachments), each agent's local API (its VM records), the
// system libvirtd (domains whose Stratus metadata names one of the site's hosts: state and MACs), the
// network's dnsmasq hosts file, tgtd (targets and CHAP accounts under the site's IQN prefix), libvirt
// secrets of the site's volumes, each agent's nftables table, and files on disk (overlay directories and
// context ISOs on each agent, context ISOs kept by the controller).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { call } from './api.ts';
import type { WorldSnapshot } from './invariants.ts';
import { type Site, siteDomains } from './site.ts';

const run = promisify(execFile);
const virsh = async (...args: string[]) => (await run('virsh', ['-c', 'qemu:///system', ...args])).stdout;

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

function ls(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** VM ids with files in an agent's state directory: overlay directories and context ISOs. */
export function agentVmFiles(stateDir: string): string[] {
  return [...ls(join(stateDir, 'instances')).filter((f) => UUID.test(f)), ...isoVms(join(stateDir, 'context'))];
}

/** VM ids of the context ISOs in a directory (an agent's, or the controller's state/context). */
export function isoVms(dir: string): string[] {
  return ls(dir)
    .filter((f) => f.endsWith('.iso'))
    .map((f) => f.slice(0, -4));
}

async function must(base: string, path: string) {
  const r = await call(base, 'GET', path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/**
 * `knownVms`: every VM id the run created (secrets and firewall ports are matched against them, since
 * the shared libvirtd also holds other work's).
 */
export async function gatherWorld(site: Site, knownVms: readonly string[]): Promise<WorldSnapshot> {
  const base = site.c.url;
  const vms = (await must(base, '/v1/vms')).items as { id: string; state: string; host: string | null }[];
  const leases = (await must(base, `/v1/networks/${site.network.id}/leases`)).items as {
    vmId: string | null;
    mac: string | null;
    ipv4: string | null;
  }[];
  const volumes = (await must(base, '/v1/volumes')).items as { id: string; attachments: { vmId: string }[] }[];

  const agentVms: WorldSnapshot['agentVms'] = {};
  const vmFiles: Record<string, string[]> = {};
  const chains: Record<string, string[]> = {};
  const domains: WorldSnapshot['domains'] = {};
  const allIds = new Set([...knownVms, ...vms.map((v) => v.id)]);
  const byTap = (dev: string) => [...allIds].find((id) => dev.startsWith(`st${id.replace(/-/g, '').slice(0, 8)}-`));
  for (const a of site.agents) {
    const r = await a.handle.request('GET', '/v1/vms');
    if (r.status !== 200) throw new Error(`agent ${a.hostId} GET /v1/vms: ${r.status}`);
    agentVms[a.hostId] = (r.body.items as { id: string; state: string }[]).map((v) => ({ id: v.id, state: v.state }));
    vmFiles[a.hostId] = agentVmFiles(join(a.handle.dir, 'state'));
    const table = await run('nft', ['list', 'table', 'bridge', a.table]).then(
      (x) => x.stdout,
      () => '',
    );
    const devs = new Set([...table.matchAll(/chain (?:from|to)-(st[0-9a-f]{8}-\d+)/g)].map((m) => m[1]!));
    for (const m of table.matchAll(/"?(st[0-9a-f]{8}-\d+)"?\s*:/g)) devs.add(m[1]!);
    chains[a.hostId] = [...devs].map((d) => byTap(d) ?? `unknown-port-${d}`);
    domains[a.hostId] = [];
  }
  for (const d of await siteDomains(site.agents.map((a) => a.hostId))) {
    const state = (await virsh('domstate', d.name).catch(() => 'gone')).trim();
    if (state === 'gone') continue;
    const xml = await virsh('dumpxml', d.name).catch(() => '');
    const macs = [...xml.matchAll(/<mac address='([0-9a-f:]+)'/g)].map((m) => m[1]!);
    domains[d.host]!.push({ vm: d.vm, state: state.replace(/ /g, ''), macs });
  }

  // volumes: tgtd targets and CHAP accounts of the site, libvirt secrets of the site's VMs
  const volumeIds = new Set(volumes.map((v) => v.id));
  const volumeArtifacts: NonNullable<WorldSnapshot['volumeArtifacts']> = [];
  const targets = await site.tgtd.tgt.targets();
  for (const t of targets) {
    if (!t.iqn.startsWith(`${site.iqnPrefix}:`)) continue;
    const vol = UUID.exec(t.iqn)?.[0] ?? t.iqn;
    volumeArtifacts.push({ kind: 'target', owner: vol, wanted: volumeIds.has(vol) });
  }
  for (const acct of await site.tgtd.tgt.accounts()) {
    const vol = UUID.exec(acct)?.[0] ?? acct;
    volumeArtifacts.push({ kind: 'chap', owner: vol, wanted: volumeIds.has(vol) });
  }
  const secrets = await virsh('secret-list').catch(() => '');
  for (const m of secrets.matchAll(/iscsi\s+stratus-volume-(\S+)-vm-(\S+)/g)) {
    const [vol, vm] = [m[1]!, m[2]!];
    if (!allIds.has(vm)) continue; // another test's
    const wanted = volumes.some((v) => v.id === vol && v.attachments.some((x) => x.vmId === vm));
    volumeArtifacts.push({ kind: 'secret', owner: `volume ${vol} of VM ${vm}`, wanted });
  }

  const dhcp = site
    .dhcpHosts()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [mac, ipv4] = l.split(',');
      return { mac: mac!, ipv4: ipv4 ?? null };
    });
  return {
    controllerVms: vms.map((v) => ({ id: v.id, state: v.state, host: v.host })),
    leases: leases
      .filter((l) => l.vmId && l.mac)
      .map((l) => ({ vm: l.vmId!, mac: l.mac!, ipv4: l.ipv4, network: site.network.id })),
    agentVms,
    domains,
    vmFiles,
    chains,
    volumeArtifacts,
    contextIsos: isoVms(join(site.c.dir, 'state', 'context')),
    dhcpHosts: dhcp,
    heldMacs: leases.filter((l) => !l.vmId && l.mac).map((l) => l.mac!),
  };
}
