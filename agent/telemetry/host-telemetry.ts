// Host telemetry payload bodies: static information (drivers/host-metrics.ts facts, libvirt versions,
// bridges, cached images, the disk of the instance directory) and metrics samples with network rates computed from the previous sample.
// Envelope fields (v, ts, host, session, seq) are added by the MQTT link when publishing.

import type { HostInfo, HostMetrics } from '../../protocol/mqtt/index.ts';
import { type HostCounters, hostCounters, hostFacts, listBridges } from '../../drivers/host-metrics.ts';
import type { LibvirtConnection } from '../../drivers/libvirt/index.ts';
import { VERSION } from '../../common/version.ts';

type Body<T> = Omit<T, 'v' | 'ts' | 'host' | 'session' | 'seq'>;
export type HostInfoBody = Body<HostInfo>;
export type HostMetricsBody = Body<HostMetrics>;

/** Images cached on this host, supplied by the image feature when it is present. */
export type ImageLister = () => Promise<{ id: string; bytes: number }[]>;

/** The disk VM disks live on (agent/images/instance-disks.ts `capacity`), when the image feature is present. */
export type DiskReporter = () => Promise<{
  path: string;
  totalBytes: number;
  freeBytes: number;
  instanceBytes: number;
}>;

export async function collectHostInfo(
  conn: LibvirtConnection,
  virtType: string,
  images?: ImageLister,
  disk?: DiskReporter,
): Promise<HostInfoBody> {
  const [facts, bridges, versions, imgs, node, storage] = await Promise.all([
    hostFacts(),
    listBridges(),
    conn.connected ? conn.versions().catch(() => undefined) : Promise.resolve(undefined),
    images ? images().catch(() => []) : Promise.resolve([]),
    conn.connected ? conn.nodeInfo().catch(() => undefined) : Promise.resolve(undefined),
    disk ? disk().catch(() => undefined) : Promise.resolve(undefined),
  ]);
  return {
    ...facts,
    ...(node
      ? { capacity: { cpus: node.cpus, memoryBytes: node.memoryKiB * 1024, ...(storage ? { disk: storage } : {}) } }
      : {}),
    agentVersion: VERSION,
    hypervisor: {
      virtType,
      qemu: versions?.hypervisor ?? 'unknown',
      libvirt: versions?.libvirt ?? 'unknown',
      uri: conn.uri,
    },
    bridges,
    images: imgs,
  };
}

export class HostSampler {
  private prev: HostCounters | undefined;

  async sample(intervalS: number, vmCount: number): Promise<HostMetricsBody> {
    const c = await hostCounters();
    const prev = this.prev;
    this.prev = c;
    const dt = prev ? Math.max(0.001, (c.at - prev.at) / 1000) : 0;
    const before = new Map(prev?.net.map((n) => [n.iface, n]) ?? []);
    const rate = (now: number, then: number | undefined) =>
      dt > 0 && then !== undefined && now >= then ? Math.round((now - then) / dt) : 0;
    return {
      intervalS,
      cpu: {
        usagePct: c.cpuUsagePct,
        load1: c.load[0],
        load5: c.load[1],
        load15: c.load[2],
        logical: c.logicalCpus,
      },
      memory: {
        totalBytes: c.memory.total,
        usedBytes: c.memory.used,
        availableBytes: c.memory.available,
        swapTotalBytes: c.memory.swapTotal,
        swapUsedBytes: c.memory.swapUsed,
      },
      disks: c.disks.map((d) => ({ mount: d.mount, fs: d.fs, sizeBytes: d.size, usedBytes: d.used })),
      net: c.net.map((n) => ({
        iface: n.iface,
        rxBytes: n.rxBytes,
        txBytes: n.txBytes,
        rxBps: rate(n.rxBytes, before.get(n.iface)?.rxBytes),
        txBps: rate(n.txBytes, before.get(n.iface)?.txBytes),
      })),
      uptimeS: c.uptimeS,
      vms: vmCount,
    };
  }
}
