// VM payloads: the retained per-VM lifecycle state (event-driven, from libvirt events through the
// agent's VmService), and the VM metrics of one host batched in one message per interval (so that
// 10,000 hosts with 50 VMs each make ~1,000 messages/s at 10 s, not 50,000).

import { type Static, Type } from '@sinclair/typebox';
import { Uuid } from '../vm-spec.ts';
import { envelopeOf } from './envelope.ts';

const Int = (description: string) => Type.Integer({ minimum: 0, description });
const N = (description: string) => Type.Number({ minimum: 0, description });

export const VmState = envelopeOf(
  {
    vm: Uuid,
    name: Type.String({ maxLength: 63 }),
    state: Type.String({
      maxLength: 32,
      description: 'libvirt power state (running, paused, shutoff, crashed, pmsuspended, ...), missing or deleted',
    }),
    desired: Type.String({ maxLength: 16, description: 'running or stopped: what the agent keeps the VM at' }),
    reason: Type.String({ maxLength: 512 }),
    vcpus: Int('Virtual CPUs'),
    memoryMiB: Int('Memory in MiB'),
    addresses: Type.Array(
      Type.Object({
        mac: Type.String(),
        bridge: Type.String(),
        network: Type.Optional(Type.String({ description: 'Stratus network of the NIC' })),
        ips: Type.Array(Type.String(), { maxItems: 16, description: 'Leased IPv4 and IPv6 addresses' }),
      }),
      { maxItems: 64, description: 'Network interfaces with their addresses' },
    ),
    updatedAt: Int('When the agent recorded this state, milliseconds since the epoch'),
  },
  'Retained, one topic per VM. Published when the state changes; an empty retained payload clears a deleted VM.',
);
export type VmState = Static<typeof VmState>;

export const VmBlockStats = Type.Object({
  dev: Type.String({ description: 'Target device (vda, sdb, ...)' }),
  rdBytes: Int('Bytes read (counter)'),
  wrBytes: Int('Bytes written (counter)'),
  rdReqs: Int('Read requests (counter)'),
  wrReqs: Int('Write requests (counter)'),
});

export const VmNetStats = Type.Object({
  dev: Type.String({ description: 'Host-side interface (vnet0, ...)' }),
  rxBytes: Int('Bytes received (counter)'),
  txBytes: Int('Bytes transmitted (counter)'),
  rxPkts: Int('Packets received (counter)'),
  txPkts: Int('Packets transmitted (counter)'),
});

export const VmSample = Type.Object({
  vm: Type.String({ description: 'VM UUID' }),
  name: Type.String({ description: 'libvirt domain name' }),
  state: Type.String(),
  cpuTimeNs: Int('CPU time consumed by the guest (counter)'),
  cpuPct: N('CPU use over the interval, percent of one vCPU times vcpus'),
  vcpus: Int('Virtual CPUs'),
  memMaxBytes: Int('Maximum memory'),
  memUsedBytes: Int('Memory in use (balloon current, or maximum without a balloon driver)'),
  block: Type.Array(VmBlockStats, { maxItems: 64 }),
  net: Type.Array(VmNetStats, { maxItems: 64 }),
});
export type VmSample = Static<typeof VmSample>;

export const VmMetricsBatch = envelopeOf(
  {
    intervalS: Int('Seconds between batches'),
    vms: Type.Array(VmSample, { maxItems: 4096 }),
  },
  "Periodic metrics of all of a host's VMs in one message (not retained).",
);
export type VmMetricsBatch = Static<typeof VmMetricsBatch>;
