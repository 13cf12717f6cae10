// qemu-img, run with argument arrays and JSON output: inspect (info, under CPU and memory limits as
// OpenStack does for untrusted images), create (plain images and copy-on-write overlays), convert,
// check, snapshot listing and removal of an internal snapshot. No policy here: callers decide what an answer means.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { StratusError } from '../common/errors.ts';

const run = promisify(execFile);

/** Limits for qemu-img on untrusted input: a crafted image must not eat the host (CVE-2015-5162). */
const INSPECT_LIMITS = ['--as=1073741824', '--cpu=30'];

export class QemuImgError extends StratusError {
  constructor(action: string, path: string, stderr: string) {
    const reason = stderr.trim().split('\n').pop() ?? '';
    super('STRATUS_ERR_QEMU_IMG', `qemu-img ${action} failed for ${path}: ${reason}`, {
      status: 500,
      details: { action, path, stderr: stderr.trim().slice(0, 2000) },
    });
  }
}

export interface ImageInfo {
  format: string;
  virtualSize: number;
  actualSize: number;
  backingFile: string | undefined;
  backingFormat: string | undefined;
  /** qcow2 external data file, if any. */
  dataFile: string | undefined;
  encrypted: boolean;
  corrupt: boolean;
  snapshots: { name: string; id: string }[];
  raw: Record<string, unknown>;
}

async function qemuImg(action: string, path: string, args: string[], limited = false): Promise<string> {
  const [cmd, argv] = limited ? ['prlimit', [...INSPECT_LIMITS, '--', 'qemu-img', ...args]] : ['qemu-img', args];
  try {
    const { stdout } = await run(cmd as string, argv as string[], { maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new QemuImgError(action, path, e.stderr || e.message);
  }
}

/**
 * `qemu-img info --output=json` of one image, never opening its backing file. Without `format` qemu-img
 * probes it, which is what inspection of a downloaded file wants (the probe result is then enforced).
 */
export async function info(path: string, opts: { format?: string } = {}): Promise<ImageInfo> {
  const args = ['info', '--output=json', '--force-share'];
  if (opts.format) args.push('-f', opts.format);
  args.push(path);
  const j = JSON.parse(await qemuImg('info', path, args, true)) as Record<string, unknown>;
  const spec = (j['format-specific'] as { data?: Record<string, unknown> } | undefined)?.data ?? {};
  return {
    format: String(j['format']),
    virtualSize: Number(j['virtual-size']),
    actualSize: Number(j['actual-size'] ?? 0),
    backingFile: (j['backing-filename'] as string | undefined) ?? (j['full-backing-filename'] as string | undefined),
    backingFormat: j['backing-filename-format'] as string | undefined,
    dataFile: spec['data-file'] as string | undefined,
    encrypted: j['encrypted'] === true,
    corrupt: spec['corrupt'] === true,
    snapshots: ((j['snapshots'] as { name: string; id: string }[] | undefined) ?? []).map((s) => ({
      name: s.name,
      id: s.id,
    })),
    raw: j,
  };
}

/** A new empty image. */
export async function create(path: string, format: 'qcow2' | 'raw', sizeBytes: number): Promise<void> {
  await qemuImg('create', path, ['create', '-q', '-f', format, path, String(sizeBytes)]);
}

/**
 * A qcow2 overlay on `base` (`-F` names the base's format so that qemu never probes it). O(1): only
 * headers are written, whatever the base's size. `sizeBytes` grows the overlay beyond the base's size.
 */
export async function createOverlay(path: string, base: string, baseFormat: string, sizeBytes?: number): Promise<void> {
  const args = ['create', '-q', '-f', 'qcow2', '-F', baseFormat, '-b', base, path];
  if (sizeBytes !== undefined) args.push(String(sizeBytes));
  await qemuImg('create', path, args);
}

/** Copies `src` into a new standalone image `dst` (the backing chain is flattened). */
export async function convert(
  src: string,
  srcFormat: string,
  dst: string,
  dstFormat: 'qcow2' | 'raw',
  opts: { compress?: boolean; forceShare?: boolean } = {},
): Promise<void> {
  const args = ['convert', '-q', '-f', srcFormat, '-O', dstFormat];
  if (opts.compress && dstFormat === 'qcow2') args.push('-c');
  if (opts.forceShare) args.push('-U');
  args.push(src, dst);
  await qemuImg('convert', src, args);
}

/** Removes the internal snapshot tagged `name` from a qcow2 image no process has open; none is not an error. */
export async function deleteInternalSnapshot(path: string, name: string): Promise<boolean> {
  const i = await info(path, { format: 'qcow2' });
  if (!i.snapshots.some((s) => s.name === name)) return false;
  await qemuImg('snapshot', path, ['snapshot', '-f', 'qcow2', '-d', name, path]);
  return true;
}

export interface CheckResult {
  corruptions: number;
  leaks: number;
  checkErrors: number;
}

/** `qemu-img check` of a qcow2 image (exit status 2 and 3 still carry the JSON report). */
export async function check(path: string, format = 'qcow2'): Promise<CheckResult> {
  let out: string;
  try {
    const { stdout } = await run('prlimit', [
      ...INSPECT_LIMITS,
      '--',
      'qemu-img',
      'check',
      '--output=json',
      '-f',
      format,
      path,
    ]);
    out = stdout;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    if ((e.code === 2 || e.code === 3) && e.stdout) out = e.stdout;
    else throw new QemuImgError('check', path, e.stderr || e.message);
  }
  const j = JSON.parse(out) as Record<string, number | undefined>;
  return { corruptions: j['corruptions'] ?? 0, leaks: j['leaks'] ?? 0, checkErrors: j['check-errors'] ?? 0 };
}
