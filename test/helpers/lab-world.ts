// The one-truth invariant checker (test/faults/invariants.ts) on a two-host lab site: fills a
// WorldSnapshot from the controller's REST API (VMs, leases), each lab host's agent (its VM records,
// overlay directories and context ISOs on disk), each lab host's own libvirtd (Stratus domains with state
// and MACs, volume secrets) and the controller's context ISOs; `expectNoViolations` waits a bounded time
// for the reconcilers to converge, then fails the test naming each violation.
import { join } from 'node:path';
import type { Test } from 'tap';
import { agentVmFiles, isoVms } from '../faults/gather.ts';
import { checkInvariants, type Violation, type WorldSnapshot } from '../faults/invariants.ts';
import type { LabSite } from './lab-site.ts';

async function must(site: LabSite, path: string) {
  const r = await site.c.request('GET', path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Items of a list the controller may not offer (a feature not configured): none then. */
async function listOrNone(site: LabSite, path: string): Promise<unknown[]> {
  const r = await site.c.request('GET', path);
  return r.status === 200 ? (r.body.items as unknown[]) : [];
}

/** `knownVms`: VM ids the test made (secrets are matched against them and the controller's VMs). */
export async function gatherLabWorld(site: LabSite, knownVms: readonly string[] = []): Promise<WorldSnapshot> {
  const vms = (await must(site, '/v1/vms')).items as { id: string; state: string; host: string | null }[];
  const networks = (await listOrNone(site, '/v1/networks')) as { id: string }[];
  const leases: WorldSnapshot['leases'] = [];
  for (const n of networks) {
    const items = (await must(site, `/v1/networks/${n.id}/leases`)).items as {
      vmId: string | null;
      mac: string | null;
      ipv4: string | null;
    }[];
    for (const l of items) if (l.vmId && l.mac) leases.push({ vm: l.vmId, mac: l.mac, ipv4: l.ipv4, network: n.id });
  }
  const allIds = new Set([...knownVms, ...vms.map((v) => v.id)]);
  const agentVms: WorldSnapshot['agentVms'] = {};
  const domains: WorldSnapshot['domains'] = {};
  const vmFiles: Record<string, string[]> = {};
  const volumeArtifacts: NonNullable<WorldSnapshot['volumeArtifacts']> = [];
  const attached = new Set<string>();
  for (const v of (await listOrNone(site, '/v1/volumes')) as { id: string; attachments: { vmId: string }[] }[])
    for (const a of v.attachments) attached.add(`${v.id}/${a.vmId}`);
  for (const hostId of Object.values(site.hostIds)) {
    const agent = site.agentOf(hostId);
    const r = await agent.request('GET', '/v1/vms').catch((err: Error) => {
      // an agent that does not answer: say whether it runs, and what it said last
      const exit = agent.proc.exitCode ?? agent.proc.signalCode ?? 'running';
      throw new Error(`agent ${hostId} (${exit}) GET /v1/vms: ${err.message}\n${agent.output().slice(-3000)}`);
    });
    if (r.status !== 200) throw new Error(`agent ${hostId} GET /v1/vms: ${r.status}`);
    agentVms[hostId] = (r.body.items as { id: string; state: string }[]).map((v) => ({ id: v.id, state: v.state }));
    vmFiles[hostId] = agentVmFiles(join(agent.dir, 'state'));
    const host = site.labHostOf(hostId);
    domains[hostId] = [];
    const names = (await host.virsh('list', '--all', '--name')).split('\n').map((l) => l.trim());
    for (const name of names.filter((n) => n.startsWith('stratus-'))) {
      const state = (await host.virsh('domstate', name).catch(() => 'gone')).trim();
      if (state === 'gone') continue;
      const xml = await host.virsh('dumpxml', name).catch(() => '');
      const macs = [...xml.matchAll(/<mac address='([0-9a-f:]+)'/g)].map((m) => m[1]!);
      domains[hostId].push({ vm: name.slice('stratus-'.length), state: state.replace(/ /g, ''), macs });
    }
    const secrets = await host.virsh('secret-list').catch(() => '');
    for (const m of secrets.matchAll(/iscsi\s+stratus-volume-(\S+)-vm-(\S+)/g)) {
      const [vol, vm] = [m[1]!, m[2]!];
      if (!allIds.has(vm)) continue;
      // a VM's secret belongs on the host it runs on, while its volume is attached
      const onHost = vms.some((v) => v.id === vm && v.host === hostId);
      volumeArtifacts.push({
        kind: 'secret',
        owner: `volume ${vol} of VM ${vm} on ${hostId}`,
        wanted: onHost && attached.has(`${vol}/${vm}`),
      });
    }
  }
  return {
    controllerVms: vms.map((v) => ({ id: v.id, state: v.state, host: v.host })),
    leases,
    agentVms,
    domains,
    vmFiles,
    volumeArtifacts,
    contextIsos: isoVms(join(site.c.dir, 'state', 'context')),
  };
}

/**
 * Waits (at most `boundMs`) for the lab site to satisfy every invariant; a test assertion either way,
 * listing the violations still there at the bound.
 */
export async function expectNoViolations(
  t: Test,
  site: LabSite,
  knownVms: readonly string[] = [],
  boundMs = 60_000,
): Promise<void> {
  const end = Date.now() + boundMs;
  // a component still starting (an agent just restarted) is asked again until the bound
  const look = async (): Promise<Violation[]> => {
    try {
      return checkInvariants(await gatherLabWorld(site, knownVms));
    } catch (err) {
      if (Date.now() >= end) throw err;
      return [{ kind: 'not-gathered', detail: (err as Error).message }];
    }
  };
  let violations = await look();
  while (violations.length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 2000));
    violations = await look();
  }
  t.same(
    violations.map((v) => `${v.kind}: ${v.detail}`),
    [],
    'the invariant checker finds nothing (one truth across controller, agents, libvirt and disk)',
  );
}
