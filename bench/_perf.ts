// System-wide CPU profile of a stretch of a benchmark (`perf record -a`), summarized by command: where
// the machine's CPU went while it ran, whichever process spent it (guests, libvirtd, the daemons, the
// short-lived tools they start). Opt-in with STRATUS_BENCH_PERF_DIR; without it these calls do nothing.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PerfStretch {
  /** Stops the recording and returns the share of samples by command, largest first. */
  stop: () => Promise<{ comm: string; pct: number }[]>;
}

export function perfStart(name: string): PerfStretch | undefined {
  const dir = process.env['STRATUS_BENCH_PERF_DIR'];
  if (!dir) return undefined;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.data`);
  const proc = spawn('perf', ['record', '-q', '-a', '-F', '499', '-o', file], { stdio: 'ignore' });
  return {
    stop: async () => {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGINT');
      await exited;
      const { stdout } = await run('perf', ['report', '-i', file, '--sort', 'comm', '--stdio', '-q'], {
        maxBuffer: 16 << 20,
      });
      return stdout
        .split('\n')
        .map((l) => /^\s*([\d.]+)%\s+(.+?)\s*$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => ({ comm: m[2]!, pct: Number(m[1]) }));
    },
  };
}
