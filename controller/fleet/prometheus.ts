// Prometheus exposition of the fleet (GET /metrics on the controller): VM metrics under the names
// operators know from the libvirt exporters (libvirt_domain_info_*, libvirt_domain_block_stats_*,
// libvirt_domain_interface_stats_*, labels domain, uuid, target_device, plus host), host metrics as
// stratus_host_*, and the controller's own MQTT ingest counters. A site has tens of thousands of VMs
// and a few hundred thousand series: rendering yields to the event loop between hosts, so a scrape
// never holds up the ingest.

import { setImmediate as yieldLoop } from 'node:timers/promises';
import type { FleetIngest } from './ingest.ts';
import type { FleetStore } from './store.ts';

const STATE_CODE: Record<string, number> = {
  nostate: 0,
  running: 1,
  blocked: 2,
  paused: 3,
  shutdown: 4,
  shutoff: 5,
  crashed: 6,
  pmsuspended: 7,
};

/** Every family: name → [type, help]. Samples are grouped per family, as the text format requires. */
const FAMILIES = {
  stratus_host_up: ['gauge', 'Whether the host agent is connected (1) or not (0)'],
  libvirt_up: ['gauge', 'Whether the host agent reports libvirt (1 when online)'],
  stratus_host_cpu_usage_percent: ['gauge', 'Host CPU busy, percent of all logical CPUs'],
  stratus_host_load1: ['gauge', 'Host load average over 1 minute'],
  stratus_host_cpus: ['gauge', 'Logical CPUs of the host'],
  stratus_host_memory_total_bytes: ['gauge', 'Host physical memory'],
  stratus_host_memory_used_bytes: ['gauge', 'Host memory in use (without caches)'],
  stratus_host_vms: ['gauge', 'VMs managed by the host agent'],
  stratus_host_network_receive_bytes_total: ['counter', 'Bytes received by a host interface'],
  stratus_host_network_transmit_bytes_total: ['counter', 'Bytes sent by a host interface'],
  libvirt_domain_info_cpu_time_seconds_total: ['counter', 'Amount of CPU time used by the domain, in seconds'],
  libvirt_domain_info_virtual_cpus: ['gauge', 'Number of virtual CPUs for the domain'],
  libvirt_domain_info_maximum_memory_bytes: ['gauge', 'Maximum allowed memory of the domain, in bytes'],
  libvirt_domain_info_memory_usage_bytes: ['gauge', 'Memory usage of the domain, in bytes'],
  libvirt_domain_info_vstate: [
    'gauge',
    'Virtual domain state: 0 nostate, 1 running, 2 blocked, 3 paused, 4 shutdown, 5 shutoff, 6 crashed, 7 pmsuspended',
  ],
  libvirt_domain_block_stats_read_bytes_total: ['counter', 'Number of bytes read from a block device, in bytes'],
  libvirt_domain_block_stats_read_requests_total: ['counter', 'Number of read requests from a block device'],
  libvirt_domain_block_stats_write_bytes_total: ['counter', 'Number of bytes written to a block device, in bytes'],
  libvirt_domain_block_stats_write_requests_total: ['counter', 'Number of write requests to a block device'],
  libvirt_domain_interface_stats_receive_bytes_total: [
    'counter',
    'Number of bytes received on a network interface, in bytes',
  ],
  libvirt_domain_interface_stats_receive_packets_total: [
    'counter',
    'Number of packets received on a network interface',
  ],
  libvirt_domain_interface_stats_transmit_bytes_total: [
    'counter',
    'Number of bytes transmitted on a network interface, in bytes',
  ],
  libvirt_domain_interface_stats_transmit_packets_total: [
    'counter',
    'Number of packets transmitted on a network interface',
  ],
  stratus_controller_mqtt_messages_total: ['counter', 'MQTT messages ingested, by kind'],
  stratus_controller_mqtt_dropped_total: ['counter', 'MQTT messages dropped, by reason'],
  stratus_controller_mqtt_duplicates_total: ['counter', 'Messages already applied (replays, redeliveries)'],
  stratus_controller_ingest_lag_p99_seconds: ['gauge', 'p99 of recent ingest lags (agent timestamp to applied)'],
} as const satisfies Record<string, readonly ['gauge' | 'counter', string]>;
type Family = keyof typeof FAMILIES;

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const num = (v: number) => (Number.isFinite(v) ? String(v) : '0');

export async function renderPrometheus(store: FleetStore, ingest: FleetIngest): Promise<string> {
  const lines = new Map<Family, string[]>(Object.keys(FAMILIES).map((k) => [k as Family, []]));
  /** `labels` is the inside of {...}, already escaped. */
  const add = (f: Family, labels: string, v: number) => lines.get(f)!.push(`${f}{${labels}} ${num(v)}`);
  for (const h of store.hosts()) {
    const l = `host="${esc(h.id)}"`;
    const up = h.state === 'online' ? 1 : 0;
    add('stratus_host_up', l, up);
    add('libvirt_up', l, up);
    const m = ingest.hostMetrics.get(h.id);
    if (!m) continue;
    add('stratus_host_cpu_usage_percent', l, m.cpu.usagePct);
    add('stratus_host_load1', l, m.cpu.load1);
    add('stratus_host_cpus', l, m.cpu.logical);
    add('stratus_host_memory_total_bytes', l, m.memory.totalBytes);
    add('stratus_host_memory_used_bytes', l, m.memory.usedBytes);
    add('stratus_host_vms', l, m.vms);
    for (const n of m.net) {
      const nl = `${l},device="${esc(n.iface)}"`;
      add('stratus_host_network_receive_bytes_total', nl, n.rxBytes);
      add('stratus_host_network_transmit_bytes_total', nl, n.txBytes);
    }
  }
  let i = 0;
  for (const [host, batch] of [...ingest.vmMetrics]) {
    if (++i % 50 === 0) await yieldLoop();
    const hl = `host="${esc(host)}"`;
    for (const v of batch.vms) {
      const d = `domain="${esc(v.name)}",uuid="${esc(v.vm)}",${hl}`;
      add('libvirt_domain_info_cpu_time_seconds_total', d, v.cpuTimeNs / 1e9);
      add('libvirt_domain_info_virtual_cpus', d, v.vcpus);
      add('libvirt_domain_info_maximum_memory_bytes', d, v.memMaxBytes);
      add('libvirt_domain_info_memory_usage_bytes', d, v.memUsedBytes);
      add('libvirt_domain_info_vstate', d, STATE_CODE[v.state] ?? 0);
      for (const b of v.block) {
        const bl = `${d},target_device="${esc(b.dev)}"`;
        add('libvirt_domain_block_stats_read_bytes_total', bl, b.rdBytes);
        add('libvirt_domain_block_stats_read_requests_total', bl, b.rdReqs);
        add('libvirt_domain_block_stats_write_bytes_total', bl, b.wrBytes);
        add('libvirt_domain_block_stats_write_requests_total', bl, b.wrReqs);
      }
      for (const n of v.net) {
        const nl = `${d},target_device="${esc(n.dev)}"`;
        add('libvirt_domain_interface_stats_receive_bytes_total', nl, n.rxBytes);
        add('libvirt_domain_interface_stats_receive_packets_total', nl, n.rxPkts);
        add('libvirt_domain_interface_stats_transmit_bytes_total', nl, n.txBytes);
        add('libvirt_domain_interface_stats_transmit_packets_total', nl, n.txPkts);
      }
    }
  }
  for (const [kind, n] of ingest.received) add('stratus_controller_mqtt_messages_total', `kind="${esc(kind)}"`, n);
  for (const [reason, n] of ingest.dropped) add('stratus_controller_mqtt_dropped_total', `reason="${esc(reason)}"`, n);
  lines
    .get('stratus_controller_mqtt_duplicates_total')!
    .push(`stratus_controller_mqtt_duplicates_total ${ingest.duplicates}`);
  lines
    .get('stratus_controller_ingest_lag_p99_seconds')!
    .push(`stratus_controller_ingest_lag_p99_seconds ${ingest.lagPercentile(0.99) / 1000}`);
  let out = '';
  for (const [name, samples] of lines) {
    if (samples.length === 0) continue;
    const [type, help] = FAMILIES[name];
    out += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${samples.join('\n')}\n`;
    await yieldLoop();
  }
  return out;
}
