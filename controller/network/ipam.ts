// Address management: networks, leases for VM NICs (MAC, IPv4, DHCPv6 address; the SLAAC address follows
// from the MAC) and admin holds. Every allocation runs in one IMMEDIATE transaction against the UNIQUE
// constraints of ipam-db.ts. Emits `leases` when a network's leases change (the DHCP supervisor batches
// these) and `network` when a network is created, changed or deleted.

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { ValidationError } from '../../common/errors.ts';
import { parseIpv4 } from '../../common/ip.ts';
import { allForIds, type Db, groupBy } from '../../common/sqlite.ts';
import { validate } from '../../common/validate.ts';
import {
  HoldRequest,
  LeaseRequest,
  type LeaseView,
  NetworkCreate,
  NetworkUpdate,
  type NetworkView,
} from '../../protocol/network.ts';
import {
  AddressInUseError,
  LeaseNotFoundError,
  NetworkExistsError,
  NetworkInUseError,
  NetworkNotFoundError,
} from './errors.ts';
import {
  type IpamStatements,
  ipamStatements,
  type LeaseRow,
  leaseView,
  migrateIpam,
  type NetworkRow,
} from './ipam-db.ts';
import { describeHolder, insertLease } from './lease-insert.ts';
import { canonicalDefinition, type ResolvedNetwork, resolveNetwork } from './network-config.ts';

export interface IpamEvents {
  leases: [networkId: string];
  network: [networkId: string, change: 'created' | 'updated' | 'deleted'];
}

export class IpamService extends EventEmitter<IpamEvents> {
  private readonly s: IpamStatements;
  private readonly resolved = new Map<string, { at: number; r: ResolvedNetwork }>();

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {
    super();
    migrateIpam(db);
    this.s = ipamStatements(db);
  }

  private row(id: string): NetworkRow {
    const r = this.s.network.get(id) ?? this.s.networkByName.get(id);
    if (!r) throw new NetworkNotFoundError(id);
    return r;
  }

  private resolve(row: NetworkRow): ResolvedNetwork {
    const c = this.resolved.get(row.id);
    if (c && c.at === row.updated_at) return c.r;
    const r = resolveNetwork(JSON.parse(row.definition) as NetworkCreate);
    this.resolved.set(row.id, { at: row.updated_at, r });
    return r;
  }

  private view(row: NetworkRow): NetworkView {
    const r = this.resolve(row);
    const counts = Object.fromEntries(this.s.counts.all(row.id).map((c) => [c.kind, c.n]));
    let ipv4Free: number | null = null;
    if (r.v4) {
      const reservedIn = [...r.v4.reserved].filter((a) => a >= r.v4!.start && a <= r.v4!.end).length;
      const used = this.s.count4InRange.get(row.id, r.v4.start, r.v4.end)!.n;
      ipv4Free = r.v4.end - r.v4.start + 1 - reservedIn - used;
    }
    return {
      id: row.id,
      ...r.def,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      usage: { leases: counts['vm'] ?? 0, holds: counts['hold'] ?? 0, ipv4Free },
    };
  }

  /** The network and its resolved ranges (for the DHCP supervisor and context generation). */
  resolvedNetwork(id: string): { id: string; r: ResolvedNetwork } {
    const row = this.row(id);
    return { id: row.id, r: this.resolve(row) };
  }

  createNetwork(input: unknown): NetworkView {
    const def = canonicalDefinition(resolveNetwork(validate(NetworkCreate, input, 'network')));
    const id = randomUUID();
    this.db
      .transaction(() => {
        if (this.s.networkByName.get(def.name)) throw new NetworkExistsError('name', def.name);
        if (this.s.networkByBridge.get(def.bridge)) throw new NetworkExistsError('bridge', def.bridge);
        this.s.insertNetwork.run({
          id,
          name: def.name,
          bridge: def.bridge,
          definition: JSON.stringify(def),
          now: Date.now(),
        });
      })
      .immediate();
    this.log.info({ network: id, name: def.name, bridge: def.bridge }, 'network created');
    this.emit('network', id, 'created');
    return this.getNetwork(id);
  }

  getNetwork(id: string): NetworkView {
    return this.view(this.row(id));
  }

  listNetworks(): NetworkView[] {
    return this.s.networks.all().map((r) => this.view(r));
  }

  updateNetwork(id: string, input: unknown): NetworkView {
    const patch = validate(NetworkUpdate, input, 'network update');
    const row = this.row(id);
    const def = JSON.parse(row.definition) as NetworkCreate;
    if (patch.description !== undefined) def.description = patch.description;
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const p = patch[fam];
      if (!p) continue;
      const cur = def[fam];
      if (!cur) throw new ValidationError(`network ${def.name} has no ${fam} configuration to update`);
      if (p.gateway !== undefined) cur.gateway = p.gateway;
      if (p.dns !== undefined) cur.dns = p.dns;
    }
    const next = canonicalDefinition(resolveNetwork(def));
    this.db
      .transaction(() => {
        const gw = next.ipv4?.gateway;
        if (gw && gw !== JSON.parse(row.definition).ipv4?.gateway) {
          const holder = this.s.byIpv4.get(row.id, parseIpv4(gw));
          if (holder) throw new AddressInUseError(def.name, 'gateway', gw, describeHolder(holder));
        }
        this.s.updateDefinition.run(JSON.stringify(next), Math.max(Date.now(), row.updated_at + 1), row.id);
      })
      .immediate();
    this.emit('network', row.id, 'updated');
    return this.getNetwork(row.id);
  }

  deleteNetwork(id: string): void {
    const row = this.row(id);
    this.db
      .transaction(() => {
        const n = this.s.counts.all(row.id).reduce((a, c) => a + c.n, 0);
        if (n > 0) throw new NetworkInUseError(row.name, n);
        this.s.deleteNetwork.run(row.id);
      })
      .immediate();
    this.resolved.delete(row.id);
    this.log.info({ network: row.id, name: row.name }, 'network deleted');
    this.emit('network', row.id, 'deleted');
  }

  /** Leases a MAC and addresses to a VM NIC; a retry for the same VM NIC returns the same lease. */
  allocate(networkId: string, input: unknown): LeaseView {
    const req = validate(LeaseRequest, input, 'lease request');
    const row = this.row(networkId);
    const r = this.resolve(row);
    const lease = this.db
      .transaction((): LeaseRow => {
        const existing = this.s.leaseOfNic.get(req.vmId, req.nicIndex);
        if (existing) {
          if (existing.network_id === row.id) return existing;
          throw new AddressInUseError(row.name, 'NIC', `${req.vmId}/${req.nicIndex}`, 'already has a lease elsewhere');
        }
        return insertLease(this.s, row, r, { kind: 'vm', ...req, note: '' });
      })
      .immediate();
    this.emit('leases', row.id);
    return leaseView(lease, r.def);
  }

  /** An admin hold: the addresses are never leased; with a MAC, DHCP answers it (a reservation). */
  hold(networkId: string, input: unknown): LeaseView {
    const req = validate(HoldRequest, input, 'hold request');
    if (!req.ipv4 && !req.ipv6) throw new ValidationError('a hold needs ipv4 or ipv6 (or both)');
    const row = this.row(networkId);
    const r = this.resolve(row);
    const lease = this.db.transaction(() => insertLease(this.s, row, r, { kind: 'hold', ...req })).immediate();
    this.emit('leases', row.id);
    return leaseView(lease, r.def);
  }

  getLease(id: string): LeaseView {
    const l = this.s.lease.get(id);
    if (!l) throw new LeaseNotFoundError(id);
    return leaseView(l, this.resolve(this.row(l.network_id)).def);
  }

  listLeases(networkId: string, kind?: 'vm' | 'hold'): LeaseView[] {
    const row = this.row(networkId);
    const def = this.resolve(row).def;
    return this.s.leases
      .all(row.id)
      .filter((l) => kind === undefined || l.kind === kind)
      .map((l) => leaseView(l, def));
  }

  leasesOfVm(vmId: string): LeaseView[] {
    return this.s.leasesOfVm.all(vmId).map((l) => leaseView(l, this.resolve(this.row(l.network_id)).def));
  }

  /** The leases of many VMs in one query, by VM, each in NIC order; VMs without any are absent. */
  leasesOfVms(vmIds: readonly string[]): Map<string, LeaseView[]> {
    const rows = allForIds<LeaseRow>(
      this.db,
      'SELECT * FROM ipam_leases WHERE vm_id IN (SELECT value FROM json_each(?)) ORDER BY vm_id, nic_index',
      vmIds,
    );
    const defs = new Map<string, ResolvedNetwork['def']>();
    const def = (networkId: string) => {
      let d = defs.get(networkId);
      if (!d) {
        d = this.resolve(this.row(networkId)).def;
        defs.set(networkId, d);
      }
      return d;
    };
    const out = new Map<string, LeaseView[]>();
    for (const [vm, ls] of groupBy(rows, 'vm_id'))
      out.set(
        vm!,
        ls.map((l) => leaseView(l, def(l.network_id))),
      );
    return out;
  }

  release(leaseId: string): void {
    const l = this.s.lease.get(leaseId);
    if (!l) throw new LeaseNotFoundError(leaseId);
    this.s.deleteLease.run(leaseId);
    this.emit('leases', l.network_id);
  }

  /** Releases every lease of a VM (its deletion); returns how many there were. */
  releaseVm(vmId: string): number {
    const leases = this.db
      .transaction(() => {
        const ls = this.s.leasesOfVm.all(vmId);
        for (const l of ls) this.s.deleteLease.run(l.id);
        return ls;
      })
      .immediate();
    for (const net of new Set(leases.map((l) => l.network_id))) this.emit('leases', net);
    return leases.length;
  }

  /** Every lease of a network as raw rows (for the DHCP hosts files). */
  rows(networkId: string): LeaseRow[] {
    return this.s.leases.all(networkId);
  }
}
