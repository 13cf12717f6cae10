// The serialized answers of GET /v1/vms, per caller, until a table the views are made of changes (temporary
// triggers on those tables clear it: controller/vms/feature.ts) or for at most a second (view fields that
// depend on the time, such as a Marketplace entry that expires). A list of 1,000 VMs costs ~20 ms to build
// (rows, the extras of other features, JSON); dashboards and watchers poll it, and between two changes
// every caller gets the bytes built once, with an ETag for conditional requests.

import { createHash } from 'node:crypto';

export interface CachedList {
  body: Buffer;
  etag: string;
  at: number;
}

export interface VmListCacheOptions {
  /** Longest an answer is served without being built again, in ms. */
  ttlMs?: number;
  /** Callers kept at most (the oldest entry goes first). */
  maxEntries?: number;
  now?: () => number;
}

export class VmListCache {
  private readonly entries = new Map<string, CachedList>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(o: VmListCacheOptions = {}) {
    this.ttlMs = o.ttlMs ?? 1000;
    this.maxEntries = o.maxEntries ?? 256;
    this.now = o.now ?? Date.now;
  }

  /** A table of the views changed: nothing built before is served again. */
  invalidate(): void {
    if (this.entries.size > 0) this.entries.clear();
  }

  /** The answer for `key` built since the last change and less than ttlMs ago; otherwise built now. */
  get(key: string, build: () => unknown): CachedList {
    const hit = this.entries.get(key);
    if (hit && this.now() - hit.at < this.ttlMs) return hit;
    // built synchronously: no write can come between reading the tables and keeping the answer
    const body = Buffer.from(JSON.stringify(build()));
    const entry = { body, etag: `W/"${createHash('sha1').update(body).digest('base64url')}"`, at: this.now() };
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, entry);
    return entry;
  }
}
