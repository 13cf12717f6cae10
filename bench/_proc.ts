// /proc readings for benchmarks: CPU seconds and resident memory of a process.
import { readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS; // utime + stime
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** CPU use of `pid` over `ms` milliseconds, in percent of one core. */
export async function cpuPercentOver(pid: number, ms: number): Promise<number> {
  const c0 = cpuSeconds(pid);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  return ((cpuSeconds(pid) - c0) / ((Date.now() - t0) / 1000)) * 100;
}

/** Proportional set size (shared pages divided among their users) and anonymous memory, from smaps_rollup. */
export function memBreakdown(pid: number): { pssBytes: number; anonBytes: number } {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0) * 1024;
  return { pssBytes: kb('Pss'), anonBytes: kb('Anonymous') };
}
