// /proc readings for benchmarks: CPU seconds and resident memory of a process.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS; // utime + stime
}

/** CPU seconds of `pid`, of its live descendants and of every child they waited for (utime + stime +
 * cutime + cstime): what a daemon spent itself, in its helper processes and through the short-lived tools
 * they ran. */
export function treeCpuSeconds(pid: number): number {
  const procs = new Map<number, { ppid: number; cpu: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    procs.set(Number(name), { ppid: Number(f[1]), cpu: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
  }
  let ticks = 0;
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    ticks += procs.get(p)?.cpu ?? 0;
    for (const [child, c] of procs) if (c.ppid === p) todo.push(child);
  }
  return ticks / TICKS;
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

/** Resident memory of `pid` by what it is for, from /proc/<pid>/smaps (bytes): the Node binary's own pages
 * (code, built-in modules, ICU data; shared with every Node process), other files (shared libraries,
 * native addons), anonymous memory (V8 heaps of the main thread and of worker threads, thread stacks,
 * malloc arenas of threads) and the main malloc heap ([heap]: SQLite caches, libvirt, koffi). */
export function memByMapping(pid: number): { nodeBinary: number; libs: number; anon: number; mallocHeap: number } {
  const out = { nodeBinary: 0, libs: 0, anon: 0, mallocHeap: 0 };
  let name = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const h = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (h) {
      name = h[1] ?? '';
      continue;
    }
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (!m) continue;
    const b = Number(m[1]) * 1024;
    if (name === '[heap]') out.mallocHeap += b;
    else if (name === '' || name.startsWith('[')) out.anon += b;
    else if (name === process.execPath || name.endsWith('/node')) out.nodeBinary += b;
    else out.libs += b;
  }
  return out;
}
