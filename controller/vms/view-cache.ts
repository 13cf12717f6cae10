// The serialized answers of GET /v1/vms and GET /v1/vms/{id}, per caller, until a table the views are
// made of changes (temporary triggers on those tables clear it: controller/vms/feature.ts; another
// process's commit, by SQLite's data_version) or for at most a second (view fields that depend on the time, such as a Marketplace entry that expires). A list of
// 1,000 VMs costs ~20 ms to build (rows, the extras of other features, JSON) and a VM shown ~8 queries;
// dashboards and watchers poll them, and between two changes every caller gets the bytes built once,
// with an ETag for conditional requests.

import { createHash } from 'node:crypto';

export interface CachedView {
  body: Buffer;
  etag: string;
  at: number;
}

export interface VmViewCacheOptions {
  /** Longest an answer is served without being built again, in ms. */
  ttlMs?: number;
  /** Bytes of answers kept at most (the oldest go first). */
  maxBytes?: number;
  /**
   * A number that changes when another process writes the tables (common/sqlite.ts `dataVersion`):
   * nothing built before such a write is served again.
   */
  externalVersion?: () => number;
  now?: () => number;
}

export class VmViewCache {
  private readonly entries = new Map<string, CachedView>();
  private bytes = 0;
  private readonly ttlMs: number;
  private readonly maxBytes: number;
  private readonly now: () => number;
  private readonly externalVersion: (() => number) | undefined;
  private seenVersion = -1;

  constructor(o: VmViewCacheOptions = {}) {
    this.ttlMs = o.ttlMs ?? 1000;
    this.maxBytes = o.maxBytes ?? 64 * 1024 * 1024;
    this.now = o.now ?? Date.now;
    this.externalVersion = o.externalVersion;
  }

  /** A table of the views changed: nothing built before is served again. */
  invalidate(): void {
    if (this.entries.size === 0) return;
    this.entries.clear();
    this.bytes = 0;
  }

  /**
   * The answer for `key` built since the last change and less than ttlMs ago; otherwise built now. The
   * key names the caller (what it may see) and the view. A build that throws (404) keeps nothing.
   */
  get(key: string, build: () => unknown): CachedView {
    if (this.externalVersion) {
      const v = this.externalVersion();
      if (v !== this.seenVersion) {
        this.invalidate();
        this.seenVersion = v;
      }
    }
    const hit = this.entries.get(key);
    if (hit && this.now() - hit.at < this.ttlMs) return hit;
    // built synchronously: no write can come between reading the tables and keeping the answer
    const body = Buffer.from(JSON.stringify(build()));
    const entry = { body, etag: `W/"${createHash('sha1').update(body).digest('base64url')}"`, at: this.now() };
    if (this.ttlMs <= 0) return entry; // a cache that keeps nothing (routes built without one)
    this.drop(key);
    for (const oldest of this.entries.keys()) {
      if (this.bytes + body.length <= this.maxBytes) break;
      this.drop(oldest);
    }
    if (body.length <= this.maxBytes) {
      this.entries.set(key, entry);
      this.bytes += body.length;
    }
    return entry;
  }

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.body.length;
  }
}
