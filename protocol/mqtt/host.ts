// Host payloads: the retained status (online/offline, the offline one set as Last Will), the retained
// static information and the periodic host metrics.

import { type Static, Type } from '@sinclair/typebox';
import { envelopeOf } from './envelope.ts';

const N = (description: string) => Type.Number({ minimum: 0, description });
const Int = (description: string) => Type.Integer({ minimum: 0, description });

export const HostStatus = envelopeOf(
  {
    state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    reason: Type.Union([Type.Literal('connected'), Type.Literal('last-will'), Type.Literal('shutdown')], {
      description: 'connected: the agent says so; last-will: the broker lost the agent; shutdown: clean stop',
    }),
    agentVersion: Type.String({ maxLength: 64 }),
    keepaliveS: Int('MQTT keepalive of the session: the broker fires the Last Will after 1.5 × this'),
    metricsIntervalS: Int('Seconds between metrics messages'),
  },
  'Retained. Whether the agent is connected. The Last Will carries the same session counter as the online message it replaces: a receiver ignores an offline whose session is older than the online it holds.',
);
export type HostStatus = Static<typeof HostStatus>;

export const HostInfo = envelopeOf(
  {
    hostname: Type.String({ maxLength: 255 }),
    agentVersion: Type.String({ maxLength: 64 }),
    arch: Type.String({ maxLength: 32 }),
    os: Type.Object({ distro: Type.String(), release: Type.String(), kernel: Type.String() }),
    cpu: Type.Object({
      model: Type.String(),
      sockets: Int('CPU sockets'),
      cores: Int('Cores per socket'),
      threads: Int('Threads per core'),
      logical: Int('Logical CPUs'),
      mhz: N('Nominal frequency in MHz'),
    }),
    memoryBytes: Int('Physical memory'),
    capacity: Type.Optional(
      Type.Object(
        {
          cpus: Int('CPUs the hypervisor offers (libvirt node info)'),
          memoryBytes: Int('Memory the hypervisor offers'),
          disk: Type.Optional(
            Type.Object(
              {
                path: Type.String({ description: "The agent's instance directory (overlays, blank disks)" }),
                totalBytes: Int('Size of the file system that holds it'),
                freeBytes: Int('Free on that file system for the agent'),
                instanceBytes: Int('Allocated by the instance disks there (overlays and blank disks)'),
              },
              {
                description:
                  'The disk VM disks live on; the scheduler counts free + instance bytes against the virtual sizes of the VMs placed on the host (MiB granularity)',
              },
            ),
          ),
        },
        { description: "What the scheduler places VMs against: libvirt's view of the node" },
      ),
    ),
    hypervisor: Type.Object({
      virtType: Type.String({ description: 'kvm or qemu (TCG)' }),
      qemu: Type.String({ description: 'QEMU version as libvirt reports it' }),
      libvirt: Type.String({ description: 'libvirt library version' }),
      uri: Type.String(),
    }),
    bridges: Type.Array(Type.String(), { maxItems: 1024, description: 'Linux bridges present on the host' }),
    images: Type.Array(Type.Object({ id: Type.String(), bytes: Int('Size on disk') }, { additionalProperties: true }), {
      maxItems: 10_000,
      description: 'Images cached on the host',
    }),
  },
  'Retained. Static facts about the host, republished at each connect and when they change.',
);
export type HostInfo = Static<typeof HostInfo>;

export const HostMetrics = envelopeOf(
  {
    intervalS: Int('Seconds covered by the rates of this sample'),
    cpu: Type.Object({
      usagePct: N('CPU busy, percent of all logical CPUs'),
      load1: N('Load average over 1 minute'),
      load5: N('Load average over 5 minutes'),
      load15: N('Load average over 15 minutes'),
      logical: Int('Logical CPUs'),
    }),
    memory: Type.Object({
      totalBytes: Int('Physical memory'),
      usedBytes: Int('Used, excluding caches and buffers'),
      availableBytes: Int('Available for new allocations'),
      swapTotalBytes: Int('Swap size'),
      swapUsedBytes: Int('Swap used'),
    }),
    disks: Type.Array(
      Type.Object({
        mount: Type.String(),
        fs: Type.String(),
        sizeBytes: Int('File system size'),
        usedBytes: Int('Used'),
      }),
      { maxItems: 256 },
    ),
    net: Type.Array(
      Type.Object({
        iface: Type.String(),
        rxBytes: Int('Received bytes (counter)'),
        txBytes: Int('Transmitted bytes (counter)'),
        rxBps: N('Receive rate, bytes per second'),
        txBps: N('Transmit rate, bytes per second'),
      }),
      { maxItems: 1024 },
    ),
    uptimeS: Int('Host uptime'),
    vms: Int('VMs managed by the agent'),
  },
  'Periodic host metrics (every metrics_interval_s; not retained).',
);
export type HostMetrics = Static<typeof HostMetrics>;
