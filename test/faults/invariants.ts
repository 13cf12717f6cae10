// The invariants of one truth (issue 12), checked on a snapshot of the whole site after quiescence: the
// controller's VMs and leases, each agent's VMs, libvirt's domains, and what is on disk and in the
// kernel. Pure: the fault-injection suite and the migration tests gather the snapshot their own way and
// call checkInvariants(); each violation names its kind and what it is about.

export interface WorldSnapshot {
  /** The controller's VMs (not deleted). */
  controllerVms: { id: string; state: string; host: string | null }[];
  /** Leases of the controller's IPAM. */
  leases: { vm: string; mac: string; ipv4: string | null; network: string }[];
  /** Each host's VMs as its agent records them. */
  agentVms: Record<string, { id: string; state: string }[]>;
  /** libvirt domains by host (Stratus domains only): VM id, power state, MACs of their NICs. */
  domains: Record<string, { vm: string; state: string; macs: string[] }[]>;
  /** Per-VM files left on disk by host (overlay directories, context ISOs): VM ids. */
  vmFiles?: Record<string, string[]>;
  /** Per-NIC nftables chains by host: the VM ids they belong to. */
  chains?: Record<string, string[]>;
  /** iSCSI targets, CHAP accounts and libvirt secrets: the volumes or VMs they belong to, and what may have them. */
  volumeArtifacts?: { kind: 'target' | 'chap' | 'secret'; owner: string; wanted: boolean }[];
  /** Context ISOs the controller keeps: the VM ids they were built for. */
  contextIsos?: string[];
  /** Entries of the networks' dnsmasq hosts files (what DHCP hands out). */
  dhcpHosts?: { mac: string; ipv4: string | null }[];
  /** MACs of holds (addresses reserved without a VM), which the hosts files may also carry. */
  heldMacs?: string[];
}

export interface Violation {
  kind: string;
  detail: string;
}

const RUNNING = new Set(['running', 'paused', 'blocked', 'pmsuspended']);

export function checkInvariants(w: WorldSnapshot): Violation[] {
  const out: Violation[] = [];
  const add = (kind: string, detail: string) => out.push({ kind, detail });
  const vms = new Map(w.controllerVms.map((v) => [v.id, v]));

  // every VM in at most one place; no domain without a VM record
  const where = new Map<string, string[]>();
  for (const [host, doms] of Object.entries(w.domains)) {
    for (const d of doms) {
      where.set(d.vm, [...(where.get(d.vm) ?? []), host]);
      if (!vms.has(d.vm)) add('domain-without-vm', `domain of VM ${d.vm} on ${host} (${d.state}) has no VM record`);
      else if (!(w.agentVms[host] ?? []).some((a) => a.id === d.vm))
        add('domain-without-agent-record', `domain of VM ${d.vm} on ${host} is not in its agent's records`);
    }
  }
  for (const [vm, hosts] of where) if (hosts.length > 1) add('vm-in-two-places', `VM ${vm} on ${hosts.join(' and ')}`);

  // running in the controller ⇒ running domain on its host
  for (const v of w.controllerVms) {
    if (v.state !== 'running') continue;
    const d = v.host ? (w.domains[v.host] ?? []).find((x) => x.vm === v.id) : undefined;
    if (!d) add('running-without-domain', `VM ${v.id} is running on ${v.host} in the controller; no domain there`);
    else if (!RUNNING.has(d.state))
      add('running-without-domain', `VM ${v.id} is running in the controller; its domain on ${v.host} is ${d.state}`);
  }

  // leases: none without a VM, no running NIC without its lease, no duplicate MAC or IP
  const leasedMacs = new Map<string, string>();
  const ips = new Map<string, string>();
  for (const l of w.leases) {
    if (!vms.has(l.vm)) add('lease-without-vm', `lease ${l.mac} ${l.ipv4 ?? ''} of VM ${l.vm} that does not exist`);
    if (leasedMacs.has(l.mac)) add('duplicate-mac', `${l.mac} leased to ${leasedMacs.get(l.mac)} and ${l.vm}`);
    leasedMacs.set(l.mac, l.vm);
    if (l.ipv4) {
      const k = `${l.network}/${l.ipv4}`;
      if (ips.has(k)) add('duplicate-ip', `${l.ipv4} on ${l.network} leased to ${ips.get(k)} and ${l.vm}`);
      ips.set(k, l.vm);
    }
  }
  const runningMacs = new Map<string, string>();
  for (const [host, doms] of Object.entries(w.domains)) {
    for (const d of doms) {
      if (!RUNNING.has(d.state)) continue;
      for (const mac of d.macs) {
        const owner = runningMacs.get(mac);
        if (owner && owner !== d.vm) add('duplicate-mac', `${mac} used by running VMs ${owner} and ${d.vm}`);
        runningMacs.set(mac, d.vm);
        if (leasedMacs.get(mac) !== d.vm)
          add('nic-without-lease', `VM ${d.vm} on ${host} runs a NIC ${mac} whose lease is released or another's`);
      }
    }
  }

  // orphaned host artifacts: per-VM files and chains of VMs that have no domain and no record there
  const orphan = (kind: string, byHost: Record<string, string[]> | undefined) => {
    for (const [host, owners] of Object.entries(byHost ?? {})) {
      for (const vm of owners) {
        const known = (w.agentVms[host] ?? []).some((a) => a.id === vm) || (where.get(vm) ?? []).includes(host);
        if (!known) add(kind, `${kind.replace('orphan-', '')} of VM ${vm} on ${host}`);
      }
    }
  };
  orphan('orphan-file', w.vmFiles);
  orphan('orphan-chain', w.chains);
  for (const a of w.volumeArtifacts ?? []) if (!a.wanted) add(`orphan-${a.kind}`, `${a.kind} of ${a.owner}`);
  for (const vm of w.contextIsos ?? [])
    if (!vms.has(vm)) add('orphan-iso', `context ISO of VM ${vm} on the controller`);

  // DHCP hands out exactly the leases (and holds): no address of a released lease, none missing
  if (w.dhcpHosts) {
    const served = new Set(w.dhcpHosts.map((h) => h.mac));
    const held = new Set(w.heldMacs ?? []);
    for (const h of w.dhcpHosts) {
      if (!leasedMacs.has(h.mac) && !held.has(h.mac))
        add('dhcp-host-without-lease', `dnsmasq serves ${h.mac} ${h.ipv4 ?? ''}, which no lease holds`);
    }
    for (const l of w.leases) {
      if (!served.has(l.mac)) add('lease-without-dhcp-host', `lease ${l.mac} of VM ${l.vm} is not in dnsmasq's hosts`);
    }
  }
  return out;
}

/** The violations counted by kind, for the bench's JSON line. */
export function countByKind(violations: readonly Violation[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of violations) out[v.kind] = (out[v.kind] ?? 0) + 1;
  return out;
}
