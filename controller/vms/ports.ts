// What the VM service needs from the rest of the controller, as interfaces: the fleet (hosts the
// agents report over MQTT) and a command dispatcher (request/reply to one agent over MQTT). The MQTT
// feature implements both; tests can drive the VM service with the real thing or a small stand-in.

import type { EventEmitter } from 'node:events';

export interface FleetHost {
  id: string;
  up: boolean;
  /** The agent's session counter (a new one at every agent start), when known. */
  session?: number;
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

export interface DispatchOptions {
  /** Idempotency key: the agent runs a key once and replays its outcome. */
  key: string;
  timeoutMs?: number;
  onProgress?: (p: { step: string; pct?: number }) => void;
}

export interface CommandDispatcher {
  /** Resolves with the command's result; rejects with a StratusError built from the agent's error. */
  dispatch(host: string, command: string, args: unknown, opts: DispatchOptions): Promise<unknown>;
}
