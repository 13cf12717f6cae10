// Files of the image cache and instance disks: write streams that are fsynced and renamed into place
// atomically, hashing of files, free space (statfs), listing and removal. Small and policy-free.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream, type WriteStream } from 'node:fs';
import { chmod, copyFile, mkdir, open, readdir, rename, rm, stat, statfs, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';

export { createReadStream, type ReadStream };

/**
 * A write stream on `path` (created or truncated, or written from `start`). A 4 MiB buffer lets a fast
 * network run ahead of the disk; buffered chunks go out together (writev).
 */
export function fileWriter(path: string, start = 0): WriteStream {
  const highWaterMark = 4 * 1024 * 1024;
  return createWriteStream(
    path,
    start > 0 ? { flags: 'r+', start, highWaterMark } : { flags: 'w', mode: 0o640, highWaterMark },
  );
}

export async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync `src`, rename it to `dst` (same filesystem: atomic), fsync the directory. */
export async function commitFile(src: string, dst: string, mode = 0o440): Promise<void> {
  await fsyncFile(src);
  await chmod(src, mode);
  await rename(src, dst);
  await fsyncDir(dirname(dst));
}

/** Copies `src` to `dst` (replacing it), with `src`'s mode; copy_file_range where the kernel has it. */
export async function copyFileTo(src: string, dst: string): Promise<void> {
  await copyFile(src, dst);
}

/** Renames `src` to `dst` (same filesystem: atomic). */
export async function renamePath(src: string, dst: string): Promise<void> {
  await rename(src, dst);
}

export async function removePath(path: string): Promise<void> {
  await rm(path, { force: true, recursive: true });
}

export async function makeDir(path: string, mode = 0o750): Promise<void> {
  await mkdir(path, { recursive: true, mode });
}

export async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Bytes a file really occupies (allocated blocks), for sparse images and overlays. */
export async function allocatedBytes(path: string): Promise<number> {
  try {
    return (await stat(path)).blocks * 512;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

export async function fileAgeMs(path: string): Promise<number> {
  return Date.now() - (await stat(path)).mtimeMs;
}

export async function truncateFile(path: string, size: number): Promise<void> {
  await truncate(path, size);
}

export async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export async function freeSpace(path: string): Promise<{ freeBytes: number; totalBytes: number }> {
  const s = await statfs(path);
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

/** Hex digests of a file (or of its first `length` bytes) for each algorithm. */
export async function hashFile(path: string, algorithms: string[], length?: number): Promise<Record<string, string>> {
  const hashes = algorithms.map((a) => createHash(a));
  const opts = length !== undefined ? { end: length - 1 } : {};
  if (length === 0) return Object.fromEntries(algorithms.map((a, i) => [a, hashes[i]!.digest('hex')]));
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, ...opts })) {
    for (const h of hashes) h.update(chunk as Buffer);
  }
  return Object.fromEntries(algorithms.map((a, i) => [a, hashes[i]!.digest('hex')]));
}
