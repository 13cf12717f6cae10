// Host filesystem access for the agent: checks that input files exist, directories, and reading the
// tail of a log file. Small and policy-free like every driver.

import {
  chmodSync,
  chownSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { access, mkdir, open, realpath, rm, stat } from 'node:fs/promises';

export async function isReadableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export async function ensureDir(path: string, mode = 0o750): Promise<void> {
  await mkdir(path, { recursive: true, mode });
}

/** Synchronous ensureDir, for constructors that open a database in the directory. */
export function ensureDirSync(path: string, mode = 0o750): void {
  mkdirSync(path, { recursive: true, mode });
}

export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** The last `maxBytes` of a file (whole lines only), or '' when it does not exist yet. */
export async function readTail(path: string, maxBytes: number): Promise<string> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(path, 'r');
    const { size } = await fh.stat();
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    let text = buf.toString('utf8');
    if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  } finally {
    await fh?.close();
  }
}

/** How much of a refused transfer is still read (and dropped) before the connection is cut. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Streams `source` into `path` through a temporary file in the same directory: hashed (sha256) while
 * written, fsynced, then renamed into place. On any error the temporary file is removed.
 */
export async function writeFileAtomicHashed(
  path: string,
  source: NodeJS.ReadableStream,
  onBytes?: (total: number) => void,
): Promise<{ sha256: string; size: number }> {
  const { createHash } = await import('node:crypto');
  const { createWriteStream } = await import('node:fs');
  const { rename } = await import('node:fs/promises');
  const { pipeline } = await import('node:stream/promises');
  const { Transform } = await import('node:stream');
  const tmp = `${path}.part-${process.pid}-${Date.now()}`;
  const hash = createHash('sha256');
  let size = 0;
  let refused: Error | undefined;
  let drained = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (refused) {
        // read and drop the rest, so that the client gets the answer instead of a reset connection
        drained += chunk.length;
        cb(drained > DRAIN_MAX_BYTES ? refused : null);
        return;
      }
      hash.update(chunk);
      size += chunk.length;
      try {
        onBytes?.(size); // may throw to refuse the transfer (a size limit)
      } catch (err) {
        refused = err as Error;
        cb();
        return;
      }
      cb(null, chunk);
    },
  });
  try {
    const out = createWriteStream(tmp, { mode: 0o640 });
    await pipeline(source, meter, out);
    if (refused) throw refused;
    const fh = await open(tmp, 'r');
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
    return { sha256: hash.digest('hex'), size };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * The canonical path of `path` with every symlink resolved. A path that does not exist (yet) is resolved
 * through its nearest existing ancestor, so a link anywhere above it still counts.
 */
export async function resolveRealPath(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    const parent = dirname(path);
    if (parent === path) return path;
    return join(await resolveRealPath(parent), basename(path));
  }
}

/**
 * Makes a secret file readable by its owner only, whatever it was: a file created by hand, restored
 * from a backup or written by an older version may be group- or world-readable. Returns whether the
 * mode had to be changed.
 */
export function enforceSecretMode(path: string): boolean {
  const mode = statSync(path).mode & 0o777;
  if (mode === 0o600) return false;
  chmodSync(path, 0o600);
  return true;
}

/** Reads a secret kept in a file (mode 0600, enforced on every read), creating it with `make()` the first time. */
export function readOrCreateSecretFile(path: string, make: () => string): string {
  if (existsSync(path)) {
    enforceSecretMode(path);
    return readFileSync(path, 'utf8').trim();
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  const value = make();
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  enforceSecretMode(path);
  return value;
}

/** Reads a secret file, making it 0600 first when it is not. */
export function readSecretFile(path: string): string {
  enforceSecretMode(path);
  return readFileSync(path, 'utf8').trim();
}

/** Writes a secret to a file readable by its owner only (also when the file already existed with another mode). */
export function writeSecretFile(path: string, value: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  if (existsSync(path)) chmodSync(path, 0o600);
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  enforceSecretMode(path);
}

/** The id of a local group (from /etc/group), or undefined when there is no such group. */
export function groupId(name: string): number | undefined {
  let text: string;
  try {
    text = readFileSync('/etc/group', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

/** Sets the mode of `path` (a socket, a directory). */
export function setMode(path: string, mode: number): void {
  chmodSync(path, mode);
}

/** Gives `path` to group `gid` (owner unchanged). */
export function chownGroup(path: string, gid: number): void {
  chownSync(path, -1, gid);
}

/** Removes a stale unix socket left by an earlier run; refuses to remove anything that is not a socket. */
export function removeStaleSocket(path: string): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a unix socket; not removing it`);
  unlinkSync(path);
}

/** A small text file read whole (configuration the daemons re-read at each use, e.g. allowed_signers). */
export function readTextFileSync(path: string): string {
  return readFileSync(path, 'utf8');
}
