// A simulated host speaking the real MQTT protocol (status with Last Will, info, metrics, VM metrics
// batches, VM states, events, command replies) without libvirt: for controller tests and the
// fleet-sim benchmark.

import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '../../protocol/mqtt/index.ts';

export class SimHost {
  client: MqttClient | undefined;
  seq = 0;
  constructor(
    readonly id: string,
    readonly session = 1,
  ) {}

  env(ts = Date.now()) {
    return { v: 1, ts, host: this.id, session: this.session, seq: ++this.seq };
  }

  status(state: 'online' | 'offline', reason: 'connected' | 'last-will' | 'shutdown' = 'connected') {
    return { ...this.env(), state, reason, agentVersion: 'sim', keepaliveS: 10, metricsIntervalS: 10 };
  }

  info(images: string[] = []) {
    return {
      ...this.env(),
      hostname: this.id,
      agentVersion: 'sim',
      arch: 'x86_64',
      os: { distro: 'Debian GNU/Linux', release: '12', kernel: '6.1.0' },
      cpu: { model: 'Sim CPU', sockets: 2, cores: 16, threads: 2, logical: 64, mhz: 2600 },
      memoryBytes: 256 * 2 ** 30,
      hypervisor: { virtType: 'kvm', qemu: '7.2.0', libvirt: '9.0.0', uri: 'qemu:///system' },
      bridges: ['br0'],
      images: images.map((id) => ({ id, bytes: 1 << 30 })),
    };
  }

  metrics(cpuPct = 20) {
    return {
      ...this.env(),
      intervalS: 10,
      cpu: { usagePct: cpuPct, load1: 1, load5: 1, load15: 1, logical: 64 },
      memory: {
        totalBytes: 256 * 2 ** 30,
        usedBytes: 64 * 2 ** 30,
        availableBytes: 192 * 2 ** 30,
        swapTotalBytes: 0,
        swapUsedBytes: 0,
      },
      disks: [{ mount: '/', fs: 'ext4', sizeBytes: 1e12, usedBytes: 1e11 }],
      net: [{ iface: 'eth0', rxBytes: 1e9, txBytes: 1e9, rxBps: 1e6, txBps: 1e6 }],
      uptimeS: 1000,
      vms: 0,
    };
  }

  vmMetrics(vms: { id: string; name: string }[], t = 0) {
    return {
      ...this.env(),
      intervalS: 10,
      vms: vms.map((v, i) => ({
        vm: v.id,
        name: v.name,
        state: 'running',
        cpuTimeNs: (t + i) * 1e9,
        cpuPct: 10 + (i % 50),
        vcpus: 2,
        memMaxBytes: 2 ** 31,
        memUsedBytes: 2 ** 30,
        block: [{ dev: 'vda', rdBytes: t * 1e6, wrBytes: t * 2e6, rdReqs: t * 10, wrReqs: t * 20 }],
        net: [{ dev: `vnet${i}`, rxBytes: t * 3e5, txBytes: t * 1e5, rxPkts: t * 300, txPkts: t * 100 }],
      })),
    };
  }

  vmState(id: string, name: string, state: string) {
    return {
      ...this.env(),
      vm: id,
      name,
      state,
      desired: 'running',
      reason: '',
      vcpus: 2,
      memoryMiB: 2048,
      addresses: [{ mac: '52:54:00:00:00:01', bridge: 'br0', network: 'default', ips: ['10.0.0.5'] }],
      updatedAt: Date.now(),
    };
  }

  event(kind: string, message: string) {
    return { ...this.env(), kind, severity: 'info', message };
  }

  async connect(url: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
    const will = {
      topic: topics.hostStatus(this.id),
      payload: Buffer.from(JSON.stringify(this.status('offline', 'last-will'))),
      qos: 1 as const,
      retain: true,
    };
    this.client = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      clientId: `sim-${this.id}`,
      will,
      reconnectPeriod: 0,
      ...opts,
    });
    return this.client;
  }

  publish(topic: string, body: object | string | Buffer, opts: { retain?: boolean; qos?: 0 | 1 } = {}) {
    const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    return this.client!.publishAsync(topic, payload, { qos: opts.qos ?? 1, retain: opts.retain ?? false });
  }
}
