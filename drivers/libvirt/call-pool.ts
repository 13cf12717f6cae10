// A small, elastic pool of call worker threads that keeps blocking libvirt calls off the main thread.
// Each worker runs one call at a time; calls wait in one queue for the first free worker. A new worker
// (up to the pool size) starts only for a call that has waited `spawnDelayMs` without a free worker, so
// bursts of quick calls (telemetry, listings) stay on one thread while slow ones (starts, migrations)
// still get their own. Workers beyond `min` that stay idle for `idleMs` stop again: each is a V8
// isolate of about 9 MB, and an agent at rest keeps one. A worker takes calls only once it has loaded
// (under load a thread takes seconds to boot): a call is never bound to a booting worker while another
// one frees up in milliseconds, and workers boot side by side, one per call still waiting at most. A
// worker that dies fails its call and is replaced.

import { Worker } from 'node:worker_threads';
import { StratusError } from '../../common/errors.ts';
import type { CallRequest, CallResponse, WorkerReady } from './call-worker.ts';
import { LibvirtError } from './errors.ts';
import type { OpArgs, OpName, OpResult } from './ops/index.ts';

interface Pending {
  req: CallRequest;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** When it was queued (for the spawn delay). */
  at: number;
}

interface Slot {
  worker: Worker;
  /** The call it runs now, if any. */
  current: Pending | undefined;
  /** When its last call returned. */
  idleSince: number;
  /** Its modules are loaded: it may take calls. */
  ready: boolean;
  /** When its current call was handed to it. */
  since: number;
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
  /** How long a worker beyond `min` may stay idle before it stops (default 10 s). */
  idleMs?: number;
  /** How long a call waits for a busy worker before another one starts for it (default 25 ms; 0: at once). */
  spawnDelayMs?: number;
}

export class CallPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private readonly min: number;
  private readonly idleMs: number;
  private readonly spawnDelayMs: number;
  private readonly reaper: NodeJS.Timeout;
  private spawnTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly size: number,
    opts: CallPoolOptions = {},
  ) {
    this.min = Math.max(1, Math.min(size, opts.min ?? 1));
    this.idleMs = opts.idleMs ?? 10_000;
    this.spawnDelayMs = Math.max(0, opts.spawnDelayMs ?? 25);
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
      if (slot.current || !slot.ready || now - slot.idleSince < this.idleMs) continue;
      this.slots.splice(this.slots.indexOf(slot), 1);
      void slot.worker.terminate();
    }
  }

  private spawn(): Slot {
    const slot: Slot = { worker: newWorker(), current: undefined, idleSince: Date.now(), ready: false, since: 0 };
    slot.worker.unref();
    slot.worker.on('message', (res: CallResponse | WorkerReady) => {
      if ('ready' in res) {
        slot.ready = true;
        slot.idleSince = Date.now();
        this.dispatch();
        if (!slot.current) slot.worker.unref();
        return;
      }
      const p = slot.current;
      if (!p || p.req.id !== res.id) return;
      slot.current = undefined;
      slot.idleSince = Date.now();
      slot.worker.unref();
      if (res.ok) p.resolve(res.value);
      else if (res.error.kind === 'libvirt') {
        const e = res.error;
        p.reject(new LibvirtError(e.operation, { code: e.code, domain: e.domain, level: e.level, message: e.message }));
      } else p.reject(new StratusError('STRATUS_ERR_LIBVIRT_CALL', res.error.message));
      this.dispatch();
    });
    const fail = (err: Error) => {
      const p = slot.current;
      slot.current = undefined;
      p?.reject(err);
      // a worker that cannot even load fails a waiting call rather than leaving it queued forever
      if (!slot.ready && !p) this.queue.shift()?.reject(err);
      if (this.closed) return;
      const i = this.slots.indexOf(slot);
      // one that ran calls is replaced; one that never loaded is not (waiting calls start others)
      if (i >= 0 && slot.ready) this.slots[i] = this.spawn();
      else if (i >= 0) this.slots.splice(i, 1);
      this.dispatch();
    };
    slot.worker.on('error', fail);
    slot.worker.on('exit', (code) => {
      // a worker the reaper stopped is no longer a slot: nothing to replace
      if (!this.slots.includes(slot) && !slot.current) return;
      if (slot.current || !this.closed)
        fail(new StratusError('STRATUS_ERR_LIBVIRT_WORKER', `libvirt call worker exited (${code})`));
    });
    return slot;
  }

  /**
   * Hands queued calls to free, loaded workers; starts workers (one per call still waiting, at most)
   * once the oldest call has waited the spawn delay.
   */
  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) break;
      if (slot.current || !slot.ready) continue;
      const p = this.queue.shift()!;
      slot.current = p;
      slot.since = Date.now();
      slot.worker.ref();
      slot.worker.postMessage(p.req);
    }
    if (this.queue.length === 0 || this.closed) return;
    const booting = this.slots.filter((s) => !s.ready).length;
    const now = Date.now();
    // the queue is in arrival order: the calls that have waited the spawn delay come first; none is due
    // while a worker's call is younger than the delay (quick calls slowed by a loaded machine free their
    // worker soon: booting threads for them would only add load), only when every worker is held by a
    // slow one (a domain start)
    let due = 0;
    const held = this.slots.every((s) => !s.ready || (s.current && now - s.since >= this.spawnDelayMs));
    while (held && due < this.queue.length && now - this.queue[due]!.at >= this.spawnDelayMs) due++;
    // a booting worker keeps the process alive only while calls wait for it
    for (let n = Math.min(due - booting, this.size - this.slots.length); n > 0; n--) {
      const slot = this.spawn();
      slot.worker.ref();
      this.slots.push(slot);
    }
    const next = this.queue[due];
    if (next && !this.spawnTimer && this.slots.length < this.size) {
      const youngest = Math.max(0, ...this.slots.filter((s) => s.ready && s.current).map((s) => s.since));
      const at = Math.max(next.at, held ? 0 : youngest) + this.spawnDelayMs;
      this.spawnTimer = setTimeout(
        () => {
          this.spawnTimer = undefined;
          this.dispatch();
        },
        Math.max(1, at - now),
      );
      this.spawnTimer.unref();
    }
  }

  call<K extends OpName>(op: K, ...args: OpArgs<K>): Promise<OpResult<K>> {
    if (this.closed) return Promise.reject(new StratusError('STRATUS_ERR_LIBVIRT_CLOSED', 'libvirt driver is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({
        req: { id: this.nextId++, op, args },
        resolve: resolve as (v: unknown) => void,
        reject,
        at: Date.now(),
      });
      this.dispatch();
    });
  }

  /**
   * Stops the workers once the calls in flight have returned (at most `graceMs`): terminating a thread
   * in the middle of a libvirt call could take the process down with it. Calls still queued fail.
   */
  async close(graceMs = 5000): Promise<void> {
    this.closed = true;
    clearInterval(this.reaper);
    clearTimeout(this.spawnTimer);
    const end = Date.now() + graceMs;
    while ((this.queue.length > 0 || this.slots.some((s) => s.current)) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const p of this.queue.splice(0))
      p.reject(new StratusError('STRATUS_ERR_LIBVIRT_CLOSED', 'libvirt driver is closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
