// Helpers for image tests and benchmarks: an in-process image cache on a temporary directory (real qemu-img, real
// SQLite), image files made with qemu-img, and digests.

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ImageCache } from '../../agent/images/cache.ts';
import { ImageDb } from '../../agent/images/image-db.ts';
import { ImagePolicy, type PolicyConfig } from '../../agent/images/policy.ts';
import { type Db, openDatabase } from '../../common/sqlite.ts';

export const log = pino({ level: process.env['STRATUS_TEST_LOG'] ?? 'silent' });

export const sha = (b: Buffer, alg = 'sha256') => createHash(alg).update(b).digest('hex');

export interface CacheFixture {
  dir: string;
  db: Db;
  images: ImageDb;
  policy: ImagePolicy;
  cache: ImageCache;
}

const noPolicy: PolicyConfig = {
  allowChecksums: [],
  denyChecksums: [],
  allowUrlPrefixes: [],
  denyUrlPrefixes: [],
  allowEndorsers: [],
  denyEndorsers: [],
};

export async function makeCache(
  t: { teardown: (fn: () => unknown) => void },
  o: { quotaBytes?: number; maxVirtualSize?: number; policy?: Partial<PolicyConfig>; cacheDir?: string } = {},
): Promise<CacheFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-images-'));
  const db = openDatabase(join(dir, 'agent.db'));
  const images = new ImageDb(db);
  const policy = new ImagePolicy({ ...noPolicy, ...o.policy }, images, log);
  const cache = new ImageCache({
    dir: o.cacheDir ?? join(dir, 'images'),
    db: images,
    policy,
    quotaBytes: o.quotaBytes ?? 0,
    maxVirtualSize: o.maxVirtualSize ?? 64 * 1024 ** 3,
    idleTimeoutMs: 5000,
    retries: 3,
    log,
  });
  await cache.init();
  t.teardown(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, db, images, policy, cache };
}

/** Random bytes: a raw image that no probe mistakes for another format. */
export function rawImage(bytes: number): Buffer {
  return randomBytes(bytes);
}

/** Runs qemu-img in a scratch directory and returns the bytes of the file it made. */
export function qemuImgFile(args: (dir: string) => string[], file: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-qimg-'));
  try {
    execFileSync('qemu-img', args(dir), { stdio: 'pipe' });
    return readFileSync(join(dir, file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const qcow2Image = (size = '16M') =>
  qemuImgFile((d) => ['create', '-q', '-f', 'qcow2', join(d, 'x.qcow2'), size], 'x.qcow2');
