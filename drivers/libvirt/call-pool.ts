// A small, elastic pool of call worker threads that keeps blocking libvirt calls off the main thread.
// Each call goes to the least-busy worker; when every worker is busy and the pool is below its size, a
// new worker starts for it, and workers beyond the first that stay idle for `idleMs` stop again (each is
// a V8 isolate of about 9 MB: an agent at rest keeps one). A worker that dies fails its calls and is
// replaced.

import { Worker } from 'node:worker_threads';
import { StratusError } from '../../common/errors.ts';
import type { CallRequest, CallResponse } from './call-worker.ts';
import { LibvirtError } from './errors.ts';
import type { OpArgs, OpName, OpResult } from './ops/index.ts';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  /** When its last call returned. */
  idleSince: number;
}

const fromSource = import.meta.url.endsWith('.ts');
const workerUrl = new URL(fromSource ? './call-worker.ts' : './call-worker.js', import.meta.url);
/** Run from TypeScript sources (tests, development), the worker registers the tsx loader first. */
function newWorker(): Worker {
  if (!fromSource) return new Worker(workerUrl);
  const api = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const code = `import(${api}).then((m) => { m.register(); return import(${JSON.stringify(workerUrl.href)}); });`;
  return new Worker(code, { eval: true });
}

export interface CallPoolOptions {
  /** Workers kept when idle (default 1). */
  min?: number;
  /** How long a worker beyond `min` may stay idle before it stops (default 30 s). */
  idleMs?: number;
}

export class CallPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;
  private readonly min: number;
  private readonly idleMs: number;
  private readonly reaper: NodeJS.Timeout;

  constructor(
    private readonly size: number,
    opts: CallPoolOptions = {},
  ) {
    this.min = Math.max(1, Math.min(size, opts.min ?? 1));
    this.idleMs = opts.idleMs ?? 30_000;
    for (let i = 0; i < this.min; i++) this.slots.push(this.spawn());
    this.reaper = setInterval(() => this.reap(), Math.max(100, Math.floor(this.idleMs / 2)));
    this.reaper.unref();
  }

  /** Workers running now. */
  get workers(): number {
    return this.slots.length;
  }

  /** Stops workers beyond `min` that have been idle for `idleMs` (no call in flight: safe to stop). */
  private reap(): void {
    const now = Date.now();
    for (const slot of [...this.slots]) {
      if (this.slots.length <= this.min) return;
      if (slot.pending.size > 0 || now - slot.idleSince < this.idleMs) continue;
      this.slots.splice(this.slots.indexOf(slot), 1);
      void slot.worker.terminate();
    }
  }

  private spawn(): Slot {
    const slot: Slot = { worker: newWorker(), pending: new Map(), idleSince: Date.now() };
    slot.worker.unref();
    slot.worker.on('message', (res: CallResponse) => {
      const p = slot.pending.get(res.id);
      if (!p) return;
      slot.pending.delete(res.id);
      if (slot.pending.size === 0) {
        slot.worker.unref();
        slot.idleSince = Date.now();
      }
      if (res.ok) p.resolve(res.value);
      else if (res.error.kind === 'libvirt') {
        const e = res.error;
        p.reject(new LibvirtError(e.operation, { code: e.code, domain: e.domain, level: e.level, message: e.message }));
      } else p.reject(new StratusError('STRATUS_ERR_LIBVIRT_CALL', res.error.message));
    });
    const fail = (err: Error) => {
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      if (this.closed) return;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots[i] = this.spawn();
    };
    slot.worker.on('error', fail);
    slot.worker.on('exit', (code) => {
      // a worker the reaper stopped is no longer a slot: nothing to replace
      if (!this.slots.includes(slot) && slot.pending.size === 0) return;
      if (slot.pending.size > 0 || !this.closed)
        fail(new StratusError('STRATUS_ERR_LIBVIRT_WORKER', `libvirt call worker exited (${code})`));
    });
    return slot;
  }

  call<K extends OpName>(op: K, ...args: OpArgs<K>): Promise<OpResult<K>> {
    if (this.closed) return Promise.reject(new StratusError('STRATUS_ERR_LIBVIRT_CLOSED', 'libvirt driver is closed'));
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    if (slot.pending.size > 0 && this.slots.length < this.size) {
      slot = this.spawn();
      this.slots.push(slot);
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      slot.worker.ref();
      const req: CallRequest = { id, op, args };
      slot.worker.postMessage(req);
    });
  }

  /**
   * Stops the workers once the calls in flight have returned (at most `graceMs`): terminating a thread
   * in the middle of a libvirt call could take the process down with it.
   */
  async close(graceMs = 5000): Promise<void> {
    this.closed = true;
    clearInterval(this.reaper);
    const end = Date.now() + graceMs;
    while (this.slots.some((s) => s.pending.size > 0) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
