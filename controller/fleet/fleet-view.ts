// The fleet as the VM service and the scheduler see it, as interfaces: hosts with their capacity, load
// and cached images, whether they are up, and the VM states they report. FleetService (fleet.ts)
// implements it from what the agents publish; tests may bring a small stand-in.

import type { EventEmitter } from 'node:events';

export interface FleetHost {
  id: string;
  up: boolean;
  cpus: number;
  memoryMiB: number;
  arch: string;
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

export interface Fleet extends EventEmitter {
  hosts(): FleetHost[];
  host(id: string): FleetHost | undefined;
  // events: 'host' (FleetHost: came up, went down, changed); 'vm-state' (FleetVmState)
}
