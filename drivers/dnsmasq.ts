// One dnsmasq process in the foreground (`--keep-in-foreground`, logs on stderr) with a config file
// written by its caller: start, reload with SIGHUP (dnsmasq re-reads its hosts files), stop, and an
// `exit` event for supervision. Also atomic file writes (temp file + rename) for the files dnsmasq reads,
// and the removal of a stale dnsmasq left by a previous controller (found by its pid file).

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export const DNSMASQ_BINARY = process.env['STRATUS_DNSMASQ'] ?? 'dnsmasq';

/** Writes `content` to `path` so that a reader sees the old file or the new one, never a mix. */
export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, content, { mode });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * The first existing directory on the way to `path` that others cannot traverse (dnsmasq, after
 * dropping privileges, could not read files below it), or undefined when all can be.
 */
export async function notWorldTraversable(path: string): Promise<string | undefined> {
  let dir = resolve(path);
  const dirs: string[] = [];
  for (;;) {
    dirs.unshift(dir);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  for (const d of dirs) {
    try {
      if (((await stat(d)).mode & 0o001) === 0) return d;
    } catch {
      return undefined; // the rest will be made (mode 0755)
    }
  }
  return undefined;
}

export async function removeDir(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

/** Kills a dnsmasq recorded in `pidFile` if it still runs with `confFile` (left by a crashed controller). */
export async function killStale(pidFile: string, confFile: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number((await readFile(pidFile, 'utf8')).trim());
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    if (!cmdline.some((a) => a.endsWith(confFile))) return false;
  } catch {
    return false;
  }
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 20));
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
  }
  process.kill(pid, 'SIGKILL');
  return true;
}

export interface DnsmasqEvents {
  ready: [];
  line: [text: string];
  exit: [code: number | null, signal: NodeJS.Signals | null];
}

export class DnsmasqProcess extends EventEmitter<DnsmasqEvents> {
  private child: ChildProcess | undefined;
  private started = false;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly confFile: string,
    private readonly binary = DNSMASQ_BINARY,
  ) {
    super();
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** True once dnsmasq logged that it started (its signal handlers are in place). */
  get ready(): boolean {
    return this.started && this.pid !== undefined;
  }

  /** Spawns dnsmasq; resolves when it has started, rejects with its last words if it exits first. */
  start(timeoutMs = 10_000): Promise<void> {
    const child = spawn(this.binary, ['--keep-in-foreground', '--log-facility=-', `--conf-file=${this.confFile}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    this.started = false;
    const lines: string[] = [];
    let buf = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      buf += chunk;
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        if (lines.length > 20) lines.shift();
        this.emit('line', line);
        if (!this.started && /started, version/.test(line)) {
          this.started = true;
          this.emit('ready');
        }
        i = buf.indexOf('\n');
      }
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.emit('exit', code, signal);
        resolve();
      });
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`dnsmasq did not start within ${timeoutMs} ms`)), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        child.off('exit', onExit);
        child.off('error', onError);
        this.off('ready', done);
        resolve();
      };
      const fail = (err: Error) => {
        clearTimeout(timer);
        this.off('ready', done);
        child.off('exit', onExit);
        reject(err);
      };
      const onExit = (code: number | null) =>
        fail(new Error(`dnsmasq exited with ${code} at start: ${[...lines, buf].join(' | ').trim()}`));
      const onError = (err: Error) => fail(err);
      child.once('exit', onExit);
      child.once('error', onError);
      this.once('ready', done);
    });
  }

  /** SIGHUP: dnsmasq re-reads its hosts and options files (not its main config). */
  reload(): boolean {
    const pid = this.pid;
    if (pid === undefined || !this.started) return false;
    process.kill(pid, 'SIGHUP');
    return true;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 3000): Promise<void> {
    const child = this.child;
    if (!child || this.pid === undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
