// The fleet as the VM service and the scheduler see it, as interfaces: hosts with their capacity, load
// and cached images, whether they are up, and the VM states they report. FleetService (fleet.ts)
// implements it from what the agents publish; tests may bring a small stand-in.

import type { EventEmitter } from 'node:events';

export interface FleetHost {
  id: string;
  up: boolean;
  /** The agent's session counter (a new one at every agent start), when known. */
  session?: number;
  cpus: number;
  memoryMiB: number;
  arch: string;
  /**
   * Bytes VM disks may take on the host (free space of its instance directory's file system plus what
   * its instance disks already take); undefined when the agent does not report its disk.
   */
  diskBytes?: number | undefined;
  /** Live CPU load 0..1, 0 when unknown. */
  load: number;
  /** sha256 of the images in the host's cache. */
  cachedImages: readonly string[];
}

export interface FleetVmState {
  host: string;
  vm: string;
  /** libvirt power state as the agent reports it (running, paused, shutoff, missing, ...). */
  state: string;
}

/** A host's inventory (protocol/mqtt/inventory.ts) as the reconciler reads it. */
export interface FleetInventory {
  host: string;
  /** Only a complete inventory may prove that a VM is absent from the host. */
  complete: boolean;
  /** Every VM the agent has a record of; `busy` while an operation of its journal is unfinished. */
  vms: { vm: string; state: string; key?: string | undefined; busy: boolean }[];
  /** Domains carrying the host's id without a record: removed by the agent unless claimed. */
  unclaimed: { vm: string; state: string; key?: string | undefined }[];
}

export interface Fleet extends EventEmitter {
  hosts(): FleetHost[];
  /**
   * The hosts that are up, in full, and the ids of the others (the scheduler only counts them in its
   * reasons). Optional: hosts() serves when absent.
   */
  hostsByState?(): { up: FleetHost[]; down: string[] };
  host(id: string): FleetHost | undefined;
  // events: 'host' (FleetHost: came up, went down, changed); 'vm-state' (FleetVmState);
  // 'inventory' (FleetInventory: after every agent (re)connect and change)
}
