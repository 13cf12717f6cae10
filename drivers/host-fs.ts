// Host filesystem access for the agent: checks that input files exist, directories, and reading the
// tail of a log file. Small and policy-free like every driver.

import { constants } from 'node:fs';
import { access, mkdir, open, rm, stat } from 'node:fs/promises';

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
