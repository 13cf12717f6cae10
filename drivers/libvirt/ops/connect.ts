// Connection-level operations, run synchronously on a call worker: open/close, keepalive, callback
// registration (the callbacks themselves were registered with koffi on the main thread), host facts.

import { EVENT_ID_LIFECYCLE, EVENT_ID_REBOOT } from '../constants.ts';
import { type Ptr, virt } from '../bindings.ts';
import { checkPtr, checkRc } from './check.ts';

export function open(uri: string, keepAliveIntervalS: number, keepAliveCount: number): Ptr {
  const conn = checkPtr('virConnectOpen', virt.virConnectOpen(uri));
  // Keepalive lets libvirt notice a dead libvirtd and fire the close callback; not every driver has it.
  if (keepAliveIntervalS > 0) virt.virConnectSetKeepAlive(conn, keepAliveIntervalS, keepAliveCount);
  return conn;
}

export function close(conn: Ptr): number {
  return virt.virConnectClose(conn);
}

export function isAlive(conn: Ptr): boolean {
  return virt.virConnectIsAlive(conn) === 1;
}

export interface CallbackIds {
  lifecycle: number;
  reboot: number;
  close: boolean;
}

/** Registers the main thread's callbacks (given as function addresses) for this connection. */
export function registerCallbacks(conn: Ptr, lifecycleCb: Ptr, rebootCb: Ptr, closeCb: Ptr): CallbackIds {
  const lifecycle = checkRc(
    'virConnectDomainEventRegisterAny',
    virt.virConnectDomainEventRegisterAny(conn, null, EVENT_ID_LIFECYCLE, lifecycleCb, null, null),
  );
  const reboot = checkRc(
    'virConnectDomainEventRegisterAny',
    virt.virConnectDomainEventRegisterAny(conn, null, EVENT_ID_REBOOT, rebootCb, null, null),
  );
  // Not every driver supports a close callback (test:///default does not); that is not fatal.
  const close = virt.virConnectRegisterCloseCallback(conn, closeCb, null, null) === 0;
  return { lifecycle, reboot, close };
}

export function deregisterCallbacks(conn: Ptr, ids: CallbackIds, closeCb: Ptr): void {
  virt.virConnectDomainEventDeregisterAny(conn, ids.lifecycle);
  virt.virConnectDomainEventDeregisterAny(conn, ids.reboot);
  if (ids.close) virt.virConnectUnregisterCloseCallback(conn, closeCb);
}

export interface NodeInfo {
  model: string;
  memoryKiB: number;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

export function nodeInfo(conn: Ptr): NodeInfo {
  const out: Record<string, unknown> = {};
  checkRc('virNodeGetInfo', virt.virNodeGetInfo(conn, out));
  return {
    model: String(out['model']),
    memoryKiB: Number(out['memory']),
    cpus: Number(out['cpus']),
    mhz: Number(out['mhz']),
    nodes: Number(out['nodes']),
    sockets: Number(out['sockets']),
    cores: Number(out['cores']),
    threads: Number(out['threads']),
  };
}

export function capabilities(conn: Ptr): string {
  const s = virt.virConnectGetCapabilities(conn) as string | null;
  if (s === null) checkRc('virConnectGetCapabilities', -1);
  return s as string;
}

export function hostname(conn: Ptr): string {
  const s = virt.virConnectGetHostname(conn) as string | null;
  if (s === null) checkRc('virConnectGetHostname', -1);
  return s as string;
}

/** libvirt encodes versions as major * 1,000,000 + minor * 1,000 + release. */
function versionString(v: number): string {
  return `${Math.floor(v / 1_000_000)}.${Math.floor(v / 1000) % 1000}.${v % 1000}`;
}

export function versions(conn: Ptr): { hypervisor: string; libvirt: string } {
  const hv = [0];
  const lib = [0];
  checkRc('virConnectGetVersion', virt.virConnectGetVersion(conn, hv));
  checkRc('virConnectGetLibVersion', virt.virConnectGetLibVersion(conn, lib));
  return { hypervisor: versionString(Number(hv[0])), libvirt: versionString(Number(lib[0])) };
}
