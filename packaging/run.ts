// Running the packaging tools (dpkg-deb, rpmbuild, strip, ...) with argument arrays, never a shell, and
// small file helpers shared by the builders.

import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

export class ToolError extends Error {
  constructor(
    readonly cmd: string,
    readonly code: number | null,
    readonly output: string,
  ) {
    super(`${cmd} failed (exit ${code}):\n${output.trim()}`);
  }
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Exit codes treated as success (default [0]). */
  ok?: number[];
}

/** Runs a tool and returns its stdout; throws ToolError with stdout+stderr on failure. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): string {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    input: opts.input,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw new ToolError(cmd, null, r.error.message);
  if (!(opts.ok ?? [0]).includes(r.status ?? -1)) {
    throw new ToolError([cmd, ...args].join(' '), r.status, `${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

/** Whether an executable is on PATH. */
export function haveTool(cmd: string): boolean {
  return (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .some((dir) => dir !== '' && existsSync(join(dir, cmd)));
}

export function writeFile(path: string, content: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  chmodSync(path, mode);
}

/** Every file (not directory) under root, as paths relative to root, sorted. */
export function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (st?.isDirectory()) walk(p);
      else out.push(relative(root, p));
    }
  };
  walk(root);
  return out;
}

/** Total size in KiB as dpkg counts Installed-Size (1 KiB per started KiB of each file). */
export function installedSizeKiB(root: string): number {
  return listFiles(root).reduce((sum, f) => sum + Math.ceil(statSync(join(root, f)).size / 1024), 0);
}
