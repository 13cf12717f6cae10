// ISO 9660 images (Joliet + Rock Ridge) from a set of small files, as context CD-ROMs: the files are
// written to a private staging directory and packed by genisoimage (what cloud-localds uses; the
// fastest to start) or `xorriso -as mkisofs`; the image appears at its path by an atomic rename.
// Reading back (label, file list, one file) uses isoinfo, for checks and tests.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { StratusError } from '../common/errors.ts';

const run = promisify(execFile);

export type IsoTool = 'genisoimage' | 'xorriso';

/** Something that runs a command with an argument array, as promisified execFile does. */
export interface CommandRunner {
  run(file: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }>;
}

export class IsoError extends StratusError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('STRATUS_ERR_ISO', message, { status: 500, details });
  }
}

async function onPath(cmd: string): Promise<boolean> {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(':')) {
    try {
      await access(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

let found: Promise<IsoTool> | undefined;

/** genisoimage when installed, else xorriso; an IsoError names both when neither is. */
export function isoTool(): Promise<IsoTool> {
  found ??= (async () => {
    if (await onPath('genisoimage')) return 'genisoimage';
    if (await onPath('xorriso')) return 'xorriso';
    throw new IsoError('neither genisoimage nor xorriso is installed (apt install genisoimage or xorriso)');
  })();
  return found;
}

export interface BuildIsoOptions {
  label: string;
  /** File name (no directories) → content. */
  files: Record<string, string | Buffer>;
  out: string;
  tool?: IsoTool;
  /** Runs the ISO tool (drivers/spawn-server.ts in the controller); default: forked from this process. */
  runner?: CommandRunner;
  mode?: number;
}

/** Prefix of the staging directories and partial ISOs buildIso() keeps beside its output. */
const LEFTOVER = '.stratus-iso-';

/**
 * Removes what builds killed midway left in `dir` (staging directories, partial ISOs); for the owner
 * of the directory at start, before it builds anything. Returns how many were removed.
 */
export async function sweepIsoLeftovers(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  const left = names.filter((n) => n.startsWith(LEFTOVER));
  for (const n of left) await rm(join(dir, n), { recursive: true, force: true });
  return left.length;
}

/** Packs `files` into an ISO at `out` (replaced atomically); returns its size and sha256. */
export async function buildIso(o: BuildIsoOptions): Promise<{ size: number; sha256: string }> {
  if (!/^[A-Za-z0-9_]{1,32}$/.test(o.label)) throw new IsoError(`invalid volume label ${o.label}`);
  const tool = o.tool ?? (await isoTool());
  // staged beside the output, under names sweepIsoLeftovers() knows: a process killed mid-build
  // (SIGKILL skips the finally below) leaves nothing in /tmp that no one would ever remove
  const stage = await mkdtemp(join(dirname(o.out), `${LEFTOVER}stage-`));
  const tmpOut = join(
    dirname(o.out),
    `${LEFTOVER}${Date.now()}-${process.pid}-${Math.random().toString(36).slice(2)}.iso`,
  );
  try {
    const root = join(stage, 'root');
    await mkdir(root, { mode: 0o700 });
    for (const [name, content] of Object.entries(o.files)) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new IsoError(`invalid file name ${name} for an ISO`);
      await writeFile(join(root, name), content, { mode: 0o644 });
    }
    const common = ['-quiet', '-V', o.label, '-J', '-R', '-o', tmpOut];
    const argv =
      tool === 'genisoimage'
        ? ['genisoimage', ...common, '-input-charset', 'utf-8', root]
        : ['xorriso', '-as', 'mkisofs', ...common, root];
    await (o.runner ? o.runner.run(argv[0]!, argv.slice(1)) : run(argv[0]!, argv.slice(1))).catch(
      (err: { stderr?: string; message: string }) => {
        throw new IsoError(`${tool} failed: ${(err.stderr || err.message).trim()}`, { tool });
      },
    );
    if (o.mode !== undefined) await chmod(tmpOut, o.mode);
    const bytes = await readFile(tmpOut);
    await rename(tmpOut, o.out);
    return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  } finally {
    await rm(stage, { recursive: true, force: true });
    await rm(tmpOut, { force: true });
  }
}

/** Volume label and files (Rock Ridge names) of an ISO, read with isoinfo. */
export async function readIso(path: string): Promise<{ label: string; files: string[] }> {
  const d = (await run('isoinfo', ['-d', '-i', path])).stdout;
  const label = /^Volume id:\s*(.*)$/m.exec(d)?.[1]?.trim() ?? '';
  const f = (await run('isoinfo', ['-R', '-f', '-i', path])).stdout;
  const files = f
    .split('\n')
    .map((l) => l.trim().replace(/^\//, ''))
    .filter(Boolean)
    .sort();
  return { label, files };
}

/** One file of an ISO (Rock Ridge name), read with isoinfo. */
export async function readIsoFile(path: string, name: string): Promise<Buffer> {
  const { stdout } = await run('isoinfo', ['-R', '-i', path, '-x', `/${name}`], {
    encoding: 'buffer',
    maxBuffer: 64 << 20,
  });
  return stdout;
}

export async function removeIso(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** SHA-256 of a file, or undefined when it does not exist. */
export async function fileSha256(path: string): Promise<string | undefined> {
  try {
    return createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
