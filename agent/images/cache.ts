// The host's image cache: content-addressed files (named by the sha256 of their bytes) in one
// directory, recorded in the agent database. Single-flight: concurrent requests for an image share
// one download. A size quota evicts least recently used images, never one that backs an instance
// disk. inventory() and usage() are what the host publishes (images it has; bytes they take).

import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { commitFile, fileSize, freeSpace, hashFile, listDir, makeDir, removePath } from '../../drivers/image-files.ts';
import { convert } from '../../drivers/qemu-img.ts';
import type { ImageRef, ImageView } from '../../protocol/image.ts';
import { CacheQuotaError, DiskFullError, ImageInUseError, ImageNotFoundError, isDiskFull } from './errors.ts';
import { type Digests, fetchImage, type Progress } from './fetcher.ts';
import type { ImageDb, ImageRecord } from './image-db.ts';
import { asImageFormat, CONVERTIBLE_FORMATS, inspectImage } from './inspect.ts';
import type { Actor, ImagePolicy, PolicySubject } from './policy.ts';
import { redactUrls } from '../../common/redact.ts';

export interface ImageCacheOptions {
  dir: string;
  db: ImageDb;
  policy: ImagePolicy;
  /** 0: no quota. */
  quotaBytes: number;
  maxVirtualSize: number;
  idleTimeoutMs: number;
  retries: number;
  log: Logger;
}

export interface CacheUsage {
  /** Bytes of cached images plus downloads in progress: count them as used disk. */
  bytes: number;
  quotaBytes: number;
  images: number;
  inUseImages: number;
  inUseBytes: number;
  downloads: Progress[];
}

const SHA256_NAME = /^[0-9a-f]{64}$/;

export function refSubject(ref: ImageRef): PolicySubject {
  return {
    sha256: ref.sha256,
    otherDigests: [ref.sha512, ref.sha1, ref.md5],
    url: ref.url === undefined ? undefined : redactUrls(ref.url), // kept in the policy audit: no capability token
    endorser: ref.endorser,
    marketplace: ref.marketplace,
  };
}

export class ImageCache {
  readonly dir: string;
  readonly tmpDir: string;
  private readonly flights = new Map<string, Promise<ImageRecord>>();
  private readonly active = new Map<string, Progress>();
  private reservedBytes = 0;

  constructor(private readonly o: ImageCacheOptions) {
    this.dir = o.dir;
    this.tmpDir = join(o.dir, '.tmp');
  }

  get db(): ImageDb {
    return this.o.db;
  }

  /** Creates the directory, drops leftovers of an interrupted run and records whose file is gone. */
  async init(): Promise<void> {
    await makeDir(this.dir);
    await removePath(this.tmpDir);
    await makeDir(this.tmpDir, 0o700);
    const known = new Set<string>();
    for (const r of this.o.db.list()) {
      if ((await fileSize(this.path(r.sha256))) === undefined) {
        const users = this.o.db.users(r.sha256);
        if (users.length === 0) this.o.db.delete(r.sha256);
        this.o.log.error({ sha256: r.sha256, users }, 'cached image file is missing');
      } else known.add(r.sha256);
    }
    for (const name of await listDir(this.dir)) {
      if (SHA256_NAME.test(name) && !known.has(name)) await removePath(this.path(name));
    }
  }

  path(sha256: string): string {
    return join(this.dir, sha256);
  }

  tmpPath(prefix: string): string {
    return join(this.tmpDir, `${prefix}-${randomUUID()}`);
  }

  /** Removes a temporary file that will not be admitted. */
  async discard(tmp: string): Promise<void> {
    await removePath(tmp);
  }

  find(sha256: string): ImageRecord | undefined {
    return this.o.db.find(sha256);
  }

  get(sha256: string): ImageRecord {
    const r = this.find(sha256);
    if (!r) throw new ImageNotFoundError(sha256);
    return r;
  }

  view(r: ImageRecord, users = this.o.db.users(r.sha256).length): ImageView {
    return { ...r, users };
  }

  /** Which images this host has: for the scheduler (prefer hosts that have the image). */
  inventory(): ImageView[] {
    const counts = this.o.db.userCounts();
    return this.o.db.list().map((r) => this.view(r, counts.get(r.sha256) ?? 0));
  }

  /** Progress of the image's download, when one is in flight. */
  downloading(sha256: string): Progress | undefined {
    const p = this.active.get(sha256);
    if (p || !this.flights.has(sha256)) return p;
    return { url: '', receivedBytes: 0, totalBytes: undefined, resumes: 0, startedAt: Date.now() };
  }

  usage(): CacheUsage {
    const t = this.o.db.totals();
    const downloads = [...this.active.values()];
    return {
      bytes: t.bytes + downloads.reduce((n, p) => n + p.receivedBytes, 0),
      quotaBytes: this.o.quotaBytes,
      images: t.images,
      inUseImages: t.inUseImages,
      inUseBytes: t.inUseBytes,
      downloads,
    };
  }

  /**
   * The image, downloaded and verified if it is not cached yet (the policy is checked first). All
   * concurrent callers for one image wait on the same download.
   */
  async ensure(ref: ImageRef, who: Actor): Promise<ImageRecord> {
    this.o.policy.enforce(refSubject(ref), 'download', who);
    const hit = this.o.db.find(ref.sha256);
    if (hit) {
      this.o.db.touch(hit.sha256);
      return hit;
    }
    if (!ref.url) {
      throw new ImageNotFoundError(ref.sha256, ' on this host, and no url was given to fetch it');
    }
    let flight = this.flights.get(ref.sha256);
    if (!flight) {
      flight = this.download(ref as ImageRef & { url: string }).finally(() => this.flights.delete(ref.sha256));
      this.flights.set(ref.sha256, flight);
    }
    return flight;
  }

  /** ensure(), then records `owner` as a user of the image in the same step (it is never evicted). */
  async acquire(ref: ImageRef, owner: string, who: Actor): Promise<ImageRecord> {
    for (;;) {
      await this.ensure(ref, who);
      // synchronous from the lookup to the pin: no eviction can come in between
      const r = this.o.db.find(ref.sha256);
      if (r) {
        this.o.db.addUser(r.sha256, owner);
        this.o.db.touch(r.sha256);
        return r;
      }
    }
  }

  /** Forgets the uses recorded under `owner` (and `owner/...`). */
  release(owner: string): void {
    this.o.db.removeUsers(owner);
  }

  async remove(sha256: string): Promise<void> {
    const r = this.get(sha256);
    const users = this.o.db.users(r.sha256);
    if (users.length > 0) throw new ImageInUseError(r.sha256, users);
    this.o.db.delete(r.sha256);
    await removePath(this.path(r.sha256));
    this.o.log.info({ sha256: r.sha256 }, 'image removed from the cache');
  }

  /**
   * Makes room for `bytes` under the quota by evicting unused images, least recently used first.
   * The decision and the records' removal are synchronous; only the unlinks wait.
   */
  private async makeRoom(bytes: number, forSha: string): Promise<void> {
    if (!this.o.quotaBytes) return;
    const t = this.o.db.totals();
    let excess = t.bytes + this.reservedBytes + bytes - this.o.quotaBytes;
    if (excess <= 0) return;
    const victims: ImageRecord[] = [];
    for (const r of this.o.db.evictable()) {
      if (excess <= 0) break;
      victims.push(r);
      excess -= r.sizeBytes;
    }
    if (excess > 0) throw new CacheQuotaError(forSha, bytes, this.o.quotaBytes, t.inUseBytes);
    for (const v of victims) this.o.db.delete(v.sha256);
    for (const v of victims) {
      this.o.log.info({ sha256: v.sha256, sizeBytes: v.sizeBytes, for: forSha }, 'image evicted from the cache');
      await removePath(this.path(v.sha256));
    }
  }

  private async download(ref: ImageRef & { url: string }): Promise<ImageRecord> {
    const sha = ref.sha256;
    const shownUrl = redactUrls(ref.url); // capability URLs: their token stays out of logs and records
    const log = this.o.log.child({ sha256: sha, url: shownUrl });
    const tmp = join(this.tmpDir, `${sha}.part`);
    const digests: Digests = { sha256: sha };
    for (const a of ['sha512', 'sha1', 'md5'] as const) if (ref[a]) digests[a] = ref[a];
    let reserved = 0;
    const started = Date.now();
    log.info('downloading image');
    try {
      const res = await fetchImage({
        url: ref.url,
        digests,
        dest: tmp,
        idleTimeoutMs: this.o.idleTimeoutMs,
        retries: this.o.retries,
        log,
        onProgress: (p) => this.active.set(sha, p),
        beforeWrite: async (total, transformed) => {
          if (total === undefined || transformed) return;
          await this.makeRoom(total, sha);
          reserved = total;
          this.reservedBytes += total;
          const { freeBytes } = await freeSpace(this.dir);
          if (total > freeBytes) {
            throw new DiskFullError(this.dir, `image ${sha} (${total} bytes)`, { neededBytes: total, freeBytes });
          }
        },
      });
      return await this.admit(tmp, {
        sha256: res.diskSha256,
        expectedFormat: res.ovf ? res.ovf.format : ref.format,
        allowConvertible: !!res.ovf,
        meta: {
          origin: 'download',
          sourceUrl: shownUrl,
          sourceSha256: res.diskSha256 === sha ? null : sha,
          endorser: ref.endorser ?? null,
          name: ref.name ?? null,
        },
        onReserve: () => {
          this.reservedBytes -= reserved;
          reserved = 0;
        },
      }).then((r) => {
        log.info({ ms: Date.now() - started, bytes: res.receivedBytes, diskSha256: r.sha256 }, 'image cached');
        return r;
      });
    } catch (err) {
      await removePath(tmp);
      log.warn({ err: (err as Error).message, code: (err as { code?: string }).code }, 'image download failed');
      if (isDiskFull(err)) throw new DiskFullError(this.dir, `image ${sha}`, { url: shownUrl });
      throw err;
    } finally {
      this.reservedBytes -= reserved;
      this.active.delete(sha);
    }
  }

  /**
   * Inspects a complete file in the temporary directory, converts an OVA's foreign disk format to
   * qcow2, makes room under the quota and moves it into the cache under its sha256. The file is
   * removed on any failure.
   */
  async admit(
    tmp: string,
    o: {
      sha256?: string;
      expectedFormat?: string | undefined;
      allowConvertible?: boolean;
      meta: Pick<ImageRecord, 'origin' | 'sourceUrl' | 'sourceSha256' | 'endorser' | 'name'>;
      onReserve?: () => void;
    },
  ): Promise<ImageRecord> {
    let file = tmp;
    try {
      let sha256 = o.sha256 ?? (await hashFile(file, ['sha256']))['sha256']!;
      let info = await inspectImage(file, {
        id: o.meta.sourceSha256 ?? sha256,
        expectedFormat: o.expectedFormat,
        maxVirtualSize: this.o.maxVirtualSize,
        allowConvertible: o.allowConvertible ?? false,
      });
      if (CONVERTIBLE_FORMATS.has(info.format)) {
        file = `${tmp}.qcow2`;
        await convert(tmp, info.format, file, 'qcow2');
        await removePath(tmp);
        info = await inspectImage(file, { id: sha256, expectedFormat: 'qcow2', maxVirtualSize: this.o.maxVirtualSize });
        sha256 = (await hashFile(file, ['sha256']))['sha256']!;
      }
      const size = (await fileSize(file)) ?? 0;
      o.onReserve?.();
      const existing = this.o.db.find(sha256);
      if (existing) {
        await removePath(file);
        this.o.db.touch(existing.sha256);
        return existing;
      }
      await this.makeRoom(size, sha256);
      await commitFile(file, this.path(sha256));
      return this.o.db.insert({
        sha256,
        format: asImageFormat(info.format),
        virtualSize: info.virtualSize,
        sizeBytes: size,
        ...o.meta,
      });
    } catch (err) {
      await removePath(file);
      await removePath(tmp);
      if (isDiskFull(err)) throw new DiskFullError(this.dir, 'an image');
      throw err;
    }
  }
}
