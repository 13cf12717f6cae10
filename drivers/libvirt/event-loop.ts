// libvirt's default event loop, driven from Node: virEventRunDefaultImpl runs on a koffi async thread
// in a loop, and the callbacks it fires are relayed by koffi to the main JS thread. One loop per process;
// it must be registered before any connection is opened.

import { koffi, virt } from './bindings.ts';

const TimeoutCallbackProto = koffi.proto('void StratusVirEventTimeoutCallback(int timer, void *opaque)');
const addTimeout = koffi
  .load('libvirt.so.0')
  .func('int virEventAddTimeout(int timeout, StratusVirEventTimeoutCallback *cb, void *opaque, void *ff)');
const removeTimeout = koffi.load('libvirt.so.0').func('int virEventRemoveTimeout(int timer)');

let registered = false;
let running = false;
let users = 0;
let wakeCb: unknown = null;

/** Registers the default event implementation (idempotent). Call before opening connections. */
export function registerEventLoop(): void {
  if (registered) return;
  if (virt.virEventRegisterDefaultImpl() < 0) throw new Error('virEventRegisterDefaultImpl failed');
  registered = true;
}

function iterate(): void {
  virt.virEventRunDefaultImpl.async((_err: unknown) => {
    if (users > 0) setImmediate(iterate);
    else running = false;
  });
}

/** Starts (or keeps) the loop running while at least one connection uses it. */
export function acquireEventLoop(): void {
  registerEventLoop();
  users++;
  if (!running) {
    running = true;
    iterate();
  }
}

/** Releases one user; the last one stops the loop, waking it with a zero-delay timer. */
export function releaseEventLoop(): void {
  users = Math.max(0, users - 1);
  if (users > 0 || !running) return;
  wakeCb ??= koffi.register((timer: number) => {
    removeTimeout(timer);
  }, koffi.pointer(TimeoutCallbackProto));
  addTimeout(0, wakeCb, null, null);
}
