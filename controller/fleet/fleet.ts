// The fleet as the rest of the controller sees it (the `Fleet` port of controller/vms/ports.ts): hosts
// with their capacity, load, cached images and whether they are up, built from what the ingest has
// stored; 'host' and 'vm-state' events as the agents report changes.

import { EventEmitter } from 'node:events';
import type { FleetHost, FleetInventory, FleetVmState } from './fleet-view.ts';
import type { FleetIngest } from './ingest.ts';
import type { FleetStore, HostRow } from './store.ts';

/** What VM disks may take on the host, from the disk its agent reports (undefined: not reported). */
function diskOf(r: HostRow): number | undefined {
  const d = r.info?.capacity?.disk;
  return d ? d.freeBytes + d.instanceBytes : undefined;
}

export class FleetService extends EventEmitter<{
  host: [FleetHost];
  'vm-state': [FleetVmState];
  inventory: [FleetInventory];
}> {
  /**
   * Hosts that reported online since this controller started. The database remembers the last state
   * of every host, but after a restart (an embedded broker loses its retained messages) a host counts
   * as up only once it has said so again: commands are not sent into the void.
   */
  private readonly reported = new Set<string>();

  constructor(
    readonly store: FleetStore,
    readonly ingest: FleetIngest,
  ) {
    super();
    this.setMaxListeners(100);
    ingest.on('host', (row) => {
      if (row.state === 'online') this.reported.add(row.id);
      else this.reported.delete(row.id);
      this.emit('host', this.toFleetHost(row));
    });
    ingest.on('vm-state', (s) => this.emit('vm-state', { host: s.host, vm: s.vm, state: s.state }));
    ingest.on('inventory', (i) =>
      this.emit('inventory', {
        host: i.host,
        complete: i.complete,
        vms: i.vms.map((v) => ({ vm: v.vm, state: v.state, key: v.key, busy: v.operation !== undefined })),
        unclaimed: i.unclaimed.map((u) => ({ vm: u.vm, state: u.state, key: u.key })),
      }),
    );
  }

  private toFleetHost(r: HostRow): FleetHost {
    const m = this.ingest.hostMetrics.get(r.id);
    return {
      id: r.id,
      up: r.state === 'online' && this.reported.has(r.id),
      session: r.session,
      cpus: r.info?.capacity?.cpus ?? r.info?.cpu.logical ?? 0,
      memoryMiB: Math.floor((r.info?.capacity?.memoryBytes ?? r.info?.memoryBytes ?? 0) / 1_048_576),
      arch: r.info?.arch ?? 'unknown',
      diskBytes: diskOf(r),
      load: m ? Math.min(1, Math.max(0, m.cpu.usagePct / 100)) : 0,
      cachedImages: r.info?.images.map((i) => i.id) ?? [],
    };
  }

  hosts(): FleetHost[] {
    return this.store.hosts().map((r) => this.toFleetHost(r));
  }

  hostsByState(): { up: FleetHost[]; down: string[] } {
    const up: FleetHost[] = [];
    const down: string[] = [];
    for (const { id, state } of this.store.hostStates()) {
      const r = state === 'online' && this.reported.has(id) ? this.store.host(id) : undefined;
      if (r) up.push(this.toFleetHost(r));
      else down.push(id);
    }
    return { up, down };
  }

  host(id: string): FleetHost | undefined {
    const r = this.store.host(id);
    return r && this.toFleetHost(r);
  }

  /** Whether commands can be sent to the host now. */
  isUp(id: string): boolean {
    return this.store.host(id)?.state === 'online' && this.reported.has(id);
  }

  /** The host's state for command dispatch: 'online' only when it reported since the start. */
  dispatchState(id: string): string | undefined {
    const state = this.store.host(id)?.state;
    return state === 'online' && !this.reported.has(id) ? 'not yet reported since the controller started' : state;
  }
}
