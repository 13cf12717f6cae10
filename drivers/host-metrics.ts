// Host facts and counters for telemetry, read with systeminformation (procfs, sysfs, df) and sysfs:
// CPU and OS identity, memory, file systems, network counters, bridges. Policy-free: rates and
// payloads are computed by agent/telemetry/.

import { readdir, stat } from 'node:fs/promises';
import { arch, hostname, loadavg, uptime } from 'node:os';
import si from 'systeminformation';

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
const SKIP_FS = /^(tmpfs|devtmpfs|overlay|squashfs|proc|sysfs|cgroup2?|nsfs|efivarfs)$/;

export async function hostFacts(): Promise<HostFacts> {
  const [osInfo, cpu, mem] = await Promise.all([si.osInfo(), si.cpu(), si.mem()]);
  const sockets = Math.max(1, cpu.processors || 1);
  const physical = cpu.physicalCores || cpu.cores;
  return {
    hostname: hostname(),
    arch:
      ({ x64: 'x86_64', arm64: 'aarch64', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[arch()] ??
      arch(),
    os: { distro: osInfo.distro, release: osInfo.release, kernel: osInfo.kernel },
    cpu: {
      model: [cpu.manufacturer, cpu.brand].filter(Boolean).join(' '),
      sockets,
      cores: Math.max(1, Math.round(physical / sockets)),
      threads: Math.max(1, Math.round(cpu.cores / Math.max(1, physical))),
      logical: cpu.cores,
      mhz: Math.round((cpu.speedMax || cpu.speed) * 1000),
    },
    memoryBytes: mem.total,
  };
}

export async function hostCounters(): Promise<HostCounters> {
  const [load, mem, fs, net] = await Promise.all([
    si.currentLoad(),
    si.mem(),
    si.fsSize().catch(() => []),
    si.networkStats('*').catch(() => []),
  ]);
  const [l1, l5, l15] = loadavg();
  return {
    at: Date.now(),
    cpuUsagePct: Math.round(load.currentLoad * 100) / 100,
    load: [l1 ?? 0, l5 ?? 0, l15 ?? 0],
    logicalCpus: load.cpus.length,
    memory: {
      total: mem.total,
      used: mem.total - mem.available,
      available: mem.available,
      swapTotal: mem.swaptotal,
      swapUsed: mem.swapused,
    },
    disks: fs
      .filter((d) => !SKIP_FS.test(d.type) && d.size > 0)
      .map((d) => ({ mount: d.mount, fs: d.type, size: d.size, used: d.used })),
    net: net
      .filter((n) => n.iface !== 'lo' && !/^(vnet|tap|veth)/.test(n.iface))
      .map((n) => ({ iface: n.iface, rxBytes: n.rx_bytes, txBytes: n.tx_bytes })),
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
