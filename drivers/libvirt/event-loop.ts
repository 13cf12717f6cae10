// libvirt's default event loop, driven from Node: virEventRunDefaultImpl runs on a koffi async thread
// in a loop, and the callbacks it fires are relayed by koffi to the main JS thread. One loop per process;
// it must be registered before any connection is opened. When the last user releases it, the loop is
// woken by a zero-delay timer whose callback is a C function (no JS relay, so no deadlock at exit), and
// the release resolves once the loop thread has really returned.

import { koffi, virt } from './bindings.ts';

const libvirt = koffi.load('libvirt.so.0');
const addTimeout = libvirt.func('int virEventAddTimeout(int timeout, void *cb, void *opaque, void *ff)');
const removeTimeout = libvirt.func('int virEventRemoveTimeout(int timer)');
/** sched_yield() ignores the (timer, opaque) arguments it is called with: a harmless C timer callback. */
const noopTimerCallback = koffi.load('libc.so.6').symbol('sched_yield') as bigint;

let registered = false;
let running = false;
let users = 0;
let wakeTimer = -1;
let stopped: (() => void)[] = [];

/** Registers the default event implementation (idempotent). Call before opening connections. */
export function registerEventLoop(): void {
  if (registered) return;
  if (virt.virEventRegisterDefaultImpl() < 0) throw new Error('virEventRegisterDefaultImpl failed');
  registered = true;
}

function iterate(): void {
  virt.virEventRunDefaultImpl.async((_err: unknown) => {
    if (users > 0) {
      setImmediate(iterate);
      return;
    }
    running = false;
    if (wakeTimer >= 0) {
      removeTimeout(wakeTimer);
      wakeTimer = -1;
    }
    const waiters = stopped;
    stopped = [];
    for (const w of waiters) w();
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

/** Releases one user; the last one stops the loop and resolves when it has returned. */
export function releaseEventLoop(): Promise<void> {
  users = Math.max(0, users - 1);
  if (users > 0 || !running) return Promise.resolve();
  const done = new Promise<void>((r) => stopped.push(r));
  if (wakeTimer < 0) wakeTimer = addTimeout(0, noopTimerCallback, null, null);
  return done;
}
