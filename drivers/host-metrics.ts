// Host facts and counters for telemetry, read straight from procfs and sysfs (and statfs for file
// systems): CPU and OS identity, memory, file systems, network counters, bridges. No child process and
// no library: systeminformation spawned a shell, `cat` and `df` every interval and was the largest
// module of the agent's bundle. Policy-free: rates and payloads are computed by agent/telemetry/.

import { readdir, readFile, stat, statfs } from 'node:fs/promises';
import { arch, cpus, hostname, loadavg, release, uptime } from 'node:os';

export interface HostFacts {
  hostname: string;
  arch: string;
  os: { distro: string; release: string; kernel: string };
  cpu: { model: string; sockets: number; cores: number; threads: number; logical: number; mhz: number };
  memoryBytes: number;
}

export interface HostCounters {
  at: number;
  cpuUsagePct: number;
  load: [number, number, number];
  logicalCpus: number;
  memory: { total: number; used: number; available: number; swapTotal: number; swapUsed: number };
  disks: { mount: string; fs: string; size: number; used: number }[];
  net: { iface: string; rxBytes: number; txBytes: number }[];
  uptimeS: number;
}

/** Pseudo file systems and per-VM taps are noise in host metrics. */
const SKIP_FS =
  /^(tmpfs|devtmpfs|overlay|squashfs|proc|sysfs|cgroup2?|nsfs|efivarfs|rootfs|devpts|mqueue|hugetlbfs|debugfs|tracefs|securityfs|pstore|bpf|configfs|fusectl|autofs|binfmt_misc|ramfs|rpc_pipefs|selinuxfs|fuse\.portal|fuse\.gvfsd-fuse)$/;
const SKIP_IFACE = /^(lo$|vnet|tap|veth)/;

const readText = (path: string): Promise<string> => readFile(path, 'utf8').catch(() => '');

/** `KEY=value` lines (os-release), quotes removed. */
function keyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^["']|["']$/g, '');
  }
  return out;
}

/** Distribution name and release ("Debian GNU/Linux", "12"), as systeminformation reported them. */
export function parseOsRelease(text: string): { distro: string; release: string } {
  const r = keyValues(text);
  const distro = r['NAME'] || 'unknown';
  const version = (r['VERSION'] ?? '').split('(')[0]!.trim();
  return { distro, release: version || r['VERSION_ID'] || 'unknown' };
}

/** CPU identity from /proc/cpuinfo: model, sockets (physical ids), cores (distinct core ids), logical CPUs. */
export function parseCpuinfo(text: string): {
  model: string;
  sockets: number;
  physicalCores: number;
  logical: number;
  mhz: number;
} {
  const sockets = new Set<string>();
  const cores = new Set<string>();
  let logical = 0;
  let model = '';
  let mhz = 0;
  let physical = '0';
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const key = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (key === 'processor') logical++;
    else if (key === 'physical id') {
      physical = value;
      sockets.add(value);
    } else if (key === 'core id') cores.add(`${physical}/${value}`);
    else if (!model && (key === 'model name' || key === 'cpu model' || key === 'Model')) model = value;
    else if (!mhz && key === 'cpu MHz') mhz = Number(value) || 0;
  }
  return {
    model: model.split(' @ ')[0]!.trim(),
    sockets: Math.max(1, sockets.size),
    physicalCores: cores.size || logical,
    logical,
    mhz,
  };
}

export async function hostFacts(): Promise<HostFacts> {
  const [osRelease, cpuinfo, maxKHz, meminfo] = await Promise.all([
    readFile('/etc/os-release', 'utf8').catch(() => readText('/usr/lib/os-release')),
    readText('/proc/cpuinfo'),
    readText('/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq'),
    readText('/proc/meminfo'),
  ]);
  const c = parseCpuinfo(cpuinfo);
  const logical = c.logical || cpus().length;
  const physical = Math.max(1, Math.min(c.physicalCores || logical, logical));
  const mhz = Math.round(Number(maxKHz.trim()) / 1000) || Math.round(c.mhz) || (cpus()[0]?.speed ?? 0);
  return {
    hostname: hostname(),
    arch:
      ({ x64: 'x86_64', arm64: 'aarch64', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[arch()] ??
      arch(),
    os: { ...parseOsRelease(osRelease), kernel: release() },
    cpu: {
      model: c.model || cpus()[0]?.model || 'unknown',
      sockets: c.sockets,
      cores: Math.max(1, Math.round(physical / c.sockets)),
      threads: Math.max(1, Math.round(logical / physical)),
      logical,
      mhz,
    },
    memoryBytes: parseMeminfo(meminfo).total,
  };
}

/** Bytes from /proc/meminfo; `available` is MemAvailable (free + reclaimable on kernels before 3.14). */
export function parseMeminfo(text: string): {
  total: number;
  available: number;
  swapTotal: number;
  swapFree: number;
} {
  const kb: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+(?:\(\w+\))?):\s+(\d+)/gm)) kb[m[1]!] = Number(m[2]) * 1024;
  const total = kb['MemTotal'] ?? 0;
  const available =
    kb['MemAvailable'] ?? (kb['MemFree'] ?? 0) + (kb['Buffers'] ?? 0) + (kb['Cached'] ?? 0) + (kb['SReclaimable'] ?? 0);
  return { total, available, swapTotal: kb['SwapTotal'] ?? 0, swapFree: kb['SwapFree'] ?? 0 };
}

/** Busy and total jiffies of all CPUs (the first line of /proc/stat), and the number of CPUs. */
export function parseProcStat(text: string): { busy: number; total: number; cpus: number } {
  let busy = 0;
  let total = 0;
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu')) continue;
    if (line.startsWith('cpu ')) {
      // user nice system idle iowait irq softirq steal (guest and guest_nice are already in user and nice)
      const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
      total = f.reduce((a, b) => a + (b || 0), 0);
      busy = total - (f[3] ?? 0) - (f[4] ?? 0);
    } else n++;
  }
  return { busy, total, cpus: n };
}

/** Receive and transmit byte counters per interface from /proc/net/dev. */
export function parseNetDev(text: string): { iface: string; rxBytes: number; txBytes: number }[] {
  const out: { iface: string; rxBytes: number; txBytes: number }[] = [];
  for (const line of text.split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const f = line
      .slice(i + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    out.push({ iface: line.slice(0, i).trim(), rxBytes: f[0] ?? 0, txBytes: f[8] ?? 0 });
  }
  return out;
}

/** Mounted file systems from /proc/self/mountinfo: one per device (the shortest mount point), pseudo ones left out. */
export function parseMountinfo(text: string): { mount: string; fs: string }[] {
  const byDevice = new Map<string, { mount: string; fs: string }>();
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const f = line.slice(0, sep).split(' ');
    const [fs] = line.slice(sep + 3).split(' ');
    const device = f[2];
    const mount = f[4]?.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (!device || !mount || !fs || SKIP_FS.test(fs)) continue;
    const seen = byDevice.get(device);
    if (!seen || mount.length < seen.mount.length) byDevice.set(device, { mount, fs });
  }
  return [...byDevice.values()];
}

let prevCpu: { busy: number; total: number } | undefined;

/** CPU use since the previous call (since boot at the first), in percent of all CPUs. */
function cpuUsage(now: { busy: number; total: number }): number {
  const prev = prevCpu ?? { busy: 0, total: 0 };
  prevCpu = now;
  const dt = now.total - prev.total;
  return dt > 0 ? Math.round(((now.busy - prev.busy) / dt) * 10_000) / 100 : 0;
}

async function fileSystems(): Promise<HostCounters['disks']> {
  const mounts = parseMountinfo(await readText('/proc/self/mountinfo'));
  const out = await Promise.all(
    mounts.map(async (m) => {
      try {
        const s = await statfs(m.mount);
        return { mount: m.mount, fs: m.fs, size: s.blocks * s.bsize, used: (s.blocks - s.bfree) * s.bsize };
      } catch {
        return undefined; // gone, or not ours to look at
      }
    }),
  );
  return out.filter((d): d is NonNullable<typeof d> => d !== undefined && d.size > 0).slice(0, 256);
}

export async function hostCounters(): Promise<HostCounters> {
  const [stat, meminfo, disks, netDev] = await Promise.all([
    readText('/proc/stat'),
    readText('/proc/meminfo'),
    fileSystems(),
    readText('/proc/net/dev'),
  ]);
  const cpu = parseProcStat(stat);
  const mem = parseMeminfo(meminfo);
  const [l1, l5, l15] = loadavg();
  return {
    at: Date.now(),
    cpuUsagePct: cpuUsage(cpu),
    load: [l1 ?? 0, l5 ?? 0, l15 ?? 0],
    logicalCpus: cpu.cpus || cpus().length,
    memory: {
      total: mem.total,
      used: mem.total - mem.available,
      available: mem.available,
      swapTotal: mem.swapTotal,
      swapUsed: mem.swapTotal - mem.swapFree,
    },
    disks,
    net: parseNetDev(netDev)
      .filter((n) => !SKIP_IFACE.test(n.iface))
      .slice(0, 1024),
    uptimeS: Math.round(uptime()),
  };
}

/** Names of the Linux bridges on the host (/sys/class/net/<if>/bridge exists). */
export async function listBridges(): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir('/sys/class/net');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    try {
      if ((await stat(`/sys/class/net/${n}/bridge`)).isDirectory()) out.push(n);
    } catch {
      // not a bridge
    }
  }
  return out.sort();
}
