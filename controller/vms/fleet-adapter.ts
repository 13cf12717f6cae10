// The Fleet port (ports.ts) over the MQTT fleet ingest: hosts as the agents report them (capacity from
// their retained info, load from their latest metrics, cached images), and their VMs' states.

import { EventEmitter } from 'node:events';
import type { FleetIngest } from '../fleet/ingest.ts';
import type { FleetStore, HostRow } from '../fleet/store.ts';
import type { Fleet, FleetHost, FleetVmState } from './ports.ts';

export class IngestFleet extends EventEmitter<{ host: [FleetHost]; 'vm-state': [FleetVmState] }> implements Fleet {
  constructor(
    private readonly store: FleetStore,
    private readonly ingest: FleetIngest,
  ) {
    super();
    ingest.on('host', (row) => {
      const h = this.toHost(row);
      if (h) this.emit('host', h);
    });
    ingest.on('vm-state', (s) => this.emit('vm-state', { host: s.host, vm: s.vm, state: s.state }));
  }

  private toHost(row: HostRow): FleetHost | undefined {
    const info = row.info;
    if (!info) return undefined; // not described yet: cannot be scheduled on
    const m = this.ingest.hostMetrics.get(row.id);
    return {
      id: row.id,
      up: row.state === 'online',
      cpus: info.cpu.logical,
      memoryMiB: Math.floor(info.memoryBytes / 1048576),
      arch: info.arch,
      load: m ? Math.min(1, Math.max(0, m.cpu.usagePct / 100)) : 0,
      cachedImages: info.images.map((i) => i.id),
    };
  }

  hosts(): FleetHost[] {
    return this.store
      .hosts()
      .map((r) => this.toHost(r))
      .filter((h): h is FleetHost => h !== undefined);
  }

  host(id: string): FleetHost | undefined {
    const r = this.store.host(id);
    return r && this.toHost(r);
  }
}
