// Prometheus exposition of the fleet (GET /metrics on the controller): VM metrics under the names
// operators know from the libvirt exporters (libvirt_domain_info_*, libvirt_domain_block_stats_*,
// libvirt_domain_interface_stats_*, labels domain, uuid, target_device, plus host), host metrics as
// stratus_host_*, and the controller's own MQTT ingest counters.

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

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

class Exposition {
  private readonly families = new Map<string, { help: string; type: string; lines: string[] }>();

  add(name: string, type: 'gauge' | 'counter', help: string, labels: Record<string, string>, value: number): void {
    let f = this.families.get(name);
    if (!f) {
      f = { help, type, lines: [] };
      this.families.set(name, f);
    }
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${esc(v)}"`)
      .join(',');
    f.lines.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 0}`);
  }

  text(): string {
    const out: string[] = [];
    for (const [name, f] of this.families) out.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`, ...f.lines);
    return `${out.join('\n')}\n`;
  }
}

export function renderPrometheus(store: FleetStore, ingest: FleetIngest): string {
  const e = new Exposition();
  for (const h of store.hosts()) {
    const host = { host: h.id };
    e.add(
      'stratus_host_up',
      'gauge',
      'Whether the host agent is connected (1) or not (0)',
      host,
      h.state === 'online' ? 1 : 0,
    );
    e.add(
      'libvirt_up',
      'gauge',
      'Whether the host agent reports libvirt (1 when online)',
      host,
      h.state === 'online' ? 1 : 0,
    );
    const m = ingest.hostMetrics.get(h.id);
    if (!m) continue;
    e.add(
      'stratus_host_cpu_usage_percent',
      'gauge',
      'Host CPU busy, percent of all logical CPUs',
      host,
      m.cpu.usagePct,
    );
    e.add('stratus_host_load1', 'gauge', 'Host load average over 1 minute', host, m.cpu.load1);
    e.add('stratus_host_cpus', 'gauge', 'Logical CPUs of the host', host, m.cpu.logical);
    e.add('stratus_host_memory_total_bytes', 'gauge', 'Host physical memory', host, m.memory.totalBytes);
    e.add('stratus_host_memory_used_bytes', 'gauge', 'Host memory in use (without caches)', host, m.memory.usedBytes);
    e.add('stratus_host_vms', 'gauge', 'VMs managed by the host agent', host, m.vms);
    for (const n of m.net) {
      const l = { host: h.id, device: n.iface };
      e.add('stratus_host_network_receive_bytes_total', 'counter', 'Bytes received by a host interface', l, n.rxBytes);
      e.add('stratus_host_network_transmit_bytes_total', 'counter', 'Bytes sent by a host interface', l, n.txBytes);
    }
  }
  for (const [host, batch] of ingest.vmMetrics) {
    for (const v of batch.vms) {
      const d = { domain: v.name, uuid: v.vm, host };
      e.add(
        'libvirt_domain_info_cpu_time_seconds_total',
        'counter',
        'Amount of CPU time used by the domain, in seconds',
        d,
        v.cpuTimeNs / 1e9,
      );
      e.add('libvirt_domain_info_virtual_cpus', 'gauge', 'Number of virtual CPUs for the domain', d, v.vcpus);
      e.add(
        'libvirt_domain_info_maximum_memory_bytes',
        'gauge',
        'Maximum allowed memory of the domain, in bytes',
        d,
        v.memMaxBytes,
      );
      e.add(
        'libvirt_domain_info_memory_usage_bytes',
        'gauge',
        'Memory usage of the domain, in bytes',
        d,
        v.memUsedBytes,
      );
      e.add(
        'libvirt_domain_info_vstate',
        'gauge',
        'Virtual domain state: 0 nostate, 1 running, 2 blocked, 3 paused, 4 shutdown, 5 shutoff, 6 crashed, 7 pmsuspended',
        d,
        STATE_CODE[v.state] ?? 0,
      );
      for (const b of v.block) {
        const l = { ...d, target_device: b.dev };
        e.add(
          'libvirt_domain_block_stats_read_bytes_total',
          'counter',
          'Number of bytes read from a block device, in bytes',
          l,
          b.rdBytes,
        );
        e.add(
          'libvirt_domain_block_stats_read_requests_total',
          'counter',
          'Number of read requests from a block device',
          l,
          b.rdReqs,
        );
        e.add(
          'libvirt_domain_block_stats_write_bytes_total',
          'counter',
          'Number of bytes written to a block device, in bytes',
          l,
          b.wrBytes,
        );
        e.add(
          'libvirt_domain_block_stats_write_requests_total',
          'counter',
          'Number of write requests to a block device',
          l,
          b.wrReqs,
        );
      }
      for (const n of v.net) {
        const l = { ...d, target_device: n.dev };
        e.add(
          'libvirt_domain_interface_stats_receive_bytes_total',
          'counter',
          'Number of bytes received on a network interface, in bytes',
          l,
          n.rxBytes,
        );
        e.add(
          'libvirt_domain_interface_stats_receive_packets_total',
          'counter',
          'Number of packets received on a network interface',
          l,
          n.rxPkts,
        );
        e.add(
          'libvirt_domain_interface_stats_transmit_bytes_total',
          'counter',
          'Number of bytes transmitted on a network interface, in bytes',
          l,
          n.txBytes,
        );
        e.add(
          'libvirt_domain_interface_stats_transmit_packets_total',
          'counter',
          'Number of packets transmitted on a network interface',
          l,
          n.txPkts,
        );
      }
    }
  }
  for (const [kind, n] of ingest.received) {
    e.add('stratus_controller_mqtt_messages_total', 'counter', 'MQTT messages ingested, by kind', { kind }, n);
  }
  for (const [reason, n] of ingest.dropped) {
    e.add('stratus_controller_mqtt_dropped_total', 'counter', 'MQTT messages dropped, by reason', { reason }, n);
  }
  e.add(
    'stratus_controller_mqtt_duplicates_total',
    'counter',
    'Messages already applied (replays, redeliveries)',
    {},
    ingest.duplicates,
  );
  e.add(
    'stratus_controller_ingest_lag_p99_seconds',
    'gauge',
    'p99 of recent ingest lags (agent timestamp to applied)',
    {},
    ingest.lagPercentile(0.99) / 1000,
  );
  return e.text();
}
