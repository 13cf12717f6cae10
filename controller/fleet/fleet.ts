// The fleet as the rest of the controller sees it (the `Fleet` port of controller/vms/ports.ts): hosts
// with their capacity, load, cached images and whether they are up, built from what the ingest has
// stored; 'host' and 'vm-state' events as the agents report changes.

import { EventEmitter } from 'node:events';
import type { FleetHost, FleetVmState } from '../vms/ports.ts';
import type { FleetIngest } from './ingest.ts';
import type { FleetStore, HostRow } from './store.ts';

export class FleetService extends EventEmitter<{ host: [FleetHost]; 'vm-state': [FleetVmState] }> {
  constructor(
    readonly store: FleetStore,
    readonly ingest: FleetIngest,
  ) {
    super();
    this.setMaxListeners(100);
    ingest.on('host', (row) => this.emit('host', this.toFleetHost(row)));
    ingest.on('vm-state', (s) => this.emit('vm-state', { host: s.host, vm: s.vm, state: s.state }));
  }

  private toFleetHost(r: HostRow): FleetHost {
    const m = this.ingest.hostMetrics.get(r.id);
    return {
      id: r.id,
      up: r.state === 'online',
      cpus: r.info?.capacity?.cpus ?? r.info?.cpu.logical ?? 0,
      memoryMiB: Math.floor((r.info?.capacity?.memoryBytes ?? r.info?.memoryBytes ?? 0) / 1_048_576),
      arch: r.info?.arch ?? 'unknown',
      load: m ? Math.min(1, Math.max(0, m.cpu.usagePct / 100)) : 0,
      cachedImages: r.info?.images.map((i) => i.id) ?? [],
    };
  }

  hosts(): FleetHost[] {
    return this.store.hosts().map((r) => this.toFleetHost(r));
  }

  host(id: string): FleetHost | undefined {
    const r = this.store.host(id);
    return r && this.toFleetHost(r);
  }

  /** Whether commands can be sent to the host now. */
  isUp(id: string): boolean {
    return this.store.host(id)?.state === 'online';
  }
}
