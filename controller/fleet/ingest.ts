// Ingest of everything hosts publish: decodes each message (size, JSON, version, schema; bad ones
// are dropped with a logged reason and counted), applies host status with the session rule (an
// offline of an older session never hides a newer online), VM state by sequence number, events
// once per (host, seq), and keeps the latest metrics in memory with a bounded history on disk.

import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { asStratusError } from '../../common/errors.ts';
import {
  decode,
  HostEvent,
  HostInfo,
  HostInventory,
  HostMetrics,
  HostStatus,
  MalformedMessageError,
  parseTopic,
  VmMetricsBatch,
  VmState,
} from '../../protocol/mqtt/index.ts';
import { HistorySteps } from './history-steps.ts';
import { LagWindow } from './lag-window.ts';
import type { FleetStore, HostRow, MetricPoint } from './store.ts';

export interface IngestOptions {
  store: FleetStore;
  log: Logger;
  maxPayloadBytes: number;
  /** Seconds between a Last Will and "down" (0: at once). */
  downGraceS: number;
  /** stepS: samples are averaged over steps of this many seconds before they are written. */
  history: { stepS: number; rawS: number; bucketS: number; keepS: number };
}

/** History rows written per turn of the event loop (~10 ms each at fleet scale). */
const HISTORY_ROWS_PER_TURN = 1000;

export interface IngestEvents {
  host: [HostRow];
  'vm-state': [{ host: string; vm: string; state: string; body: VmState | undefined }];
  inventory: [HostInventory];
  event: [HostEvent];
  'host-metrics': [HostMetrics];
  'vm-metrics': [VmMetricsBatch];
}

export class FleetIngest extends EventEmitter<IngestEvents> {
  readonly hostMetrics = new Map<string, HostMetrics>();
  readonly vmMetrics = new Map<string, VmMetricsBatch>();
  /** The last inventory of each host. */
  readonly inventories = new Map<string, HostInventory>();
  readonly received = new Map<string, number>();
  readonly dropped = new Map<string, number>();
  /** Ingest lags (ms from the agent's timestamp to applied), per 10 s window. */
  readonly lags = new LagWindow();
  duplicates = 0;
  /** The metrics history's open steps, averaged in memory until written. */
  readonly steps: HistorySteps;
  private readonly downTimers = new Map<string, NodeJS.Timeout>();
  private readonly pendingInfo = new Map<string, HostInfo>();
  private timers: NodeJS.Timeout[] = [];
  /** Points of the history waiting to be written, and whether a write is under way. */
  private readonly toWrite: MetricPoint[] = [];
  private writing = false;
  private stopped = false;

  constructor(private readonly o: IngestOptions) {
    super();
    this.setMaxListeners(100);
    this.steps = new HistorySteps(o.history.stepS);
  }

  start(): void {
    const h = this.o.history;
    this.timers.push(setInterval(() => this.flush(), 1000));
    this.timers.push(setInterval(() => this.write(this.steps.sweep(Date.now())), h.stepS * 1000));
    this.timers.push(
      setInterval(() => this.o.store.compact(Date.now(), h.rawS * 1000, h.bucketS, h.keepS * 1000), 60_000),
    );
    for (const t of this.timers) t.unref();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const t of this.downTimers.values()) clearTimeout(t);
    this.flush();
    this.write(this.steps.sweep(Date.now(), true));
    this.persist(this.toWrite.splice(0)); // what is left, at once
  }

  /** Writes the steps of the metrics history closed since the last flush. */
  flush(): void {
    this.write(this.steps.take());
  }

  /**
   * Queues points for the history, written HISTORY_ROWS_PER_TURN at a time with the event loop running
   * between: at 10,000 hosts a step boundary closes ~11,000 series a second, and one transaction of
   * them held the loop 130-380 ms (more as the table grows), with the broker and the ingest waiting.
   */
  private write(points: MetricPoint[]): void {
    for (const p of points) this.toWrite.push(p);
    if (this.writing || this.toWrite.length === 0) return;
    this.writing = true;
    const next = () => {
      this.persist(this.toWrite.splice(0, HISTORY_ROWS_PER_TURN));
      if (this.toWrite.length > 0 && !this.stopped) setImmediate(next);
      else this.writing = false;
    };
    setImmediate(next);
  }

  private persist(points: MetricPoint[]): void {
    try {
      this.o.store.addMetrics(points);
    } catch (err) {
      this.o.log.error({ err: (err as Error).message, points: points.length }, 'cannot write metrics history');
    }
  }

  private count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  private drop(topic: string, reason: string, message: string, bytes: number): void {
    this.count(this.dropped, reason);
    this.o.log.warn({ topic, reason, bytes, err: message }, 'MQTT message dropped');
  }

  /** Handles one message; never throws. */
  handle(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    // commands are the controller's own; replies are routed to the agent client (mqtt/message-router.ts)
    if (!t || t.kind === 'command' || t.kind === 'reply') return;
    try {
      if (payload.length === 0) {
        if (t.kind === 'vm-state' && t.id) this.vmGone(t.host, t.id);
        return;
      }
      const max = this.o.maxPayloadBytes;
      switch (t.kind) {
        case 'status':
          this.status(decode(HostStatus, payload, max), t.host);
          break;
        case 'info':
          this.info(decode(HostInfo, payload, max), t.host);
          break;
        case 'metrics':
          this.metrics(decode(HostMetrics, payload, max), t.host);
          break;
        case 'vm-metrics':
          this.vmBatch(decode(VmMetricsBatch, payload, max), t.host);
          break;
        case 'vm-state':
          this.vmState(decode(VmState, payload, max), t.host, t.id!);
          break;
        case 'events':
          this.event(decode(HostEvent, payload, max), t.host);
          break;
        case 'inventory':
          this.inventory(decode(HostInventory, payload, 16 * max), t.host);
          break;
      }
      this.count(this.received, t.kind);
    } catch (err) {
      const e = asStratusError(err);
      this.drop(topic, (e.details['reason'] as string | undefined) ?? e.code, e.message, payload.length);
    }
  }

  private checkHost(m: { host: string; ts: number }, topicHost: string): void {
    if (m.host !== topicHost) {
      throw new MalformedMessageError('bad-topic', `payload host "${m.host}" differs from the topic's "${topicHost}"`);
    }
    const lag = Date.now() - m.ts;
    this.lags.add(lag);
  }

  private status(s: HostStatus, host: string): void {
    this.checkHost(s, host);
    const cur = this.o.store.host(host);
    if (s.state === 'offline' && cur && s.session < cur.session) {
      this.o.log.info({ host, session: s.session, current: cur.session }, 'stale Last Will ignored');
      return;
    }
    if (cur && s.session < cur.session) {
      this.o.log.warn(
        { host, session: s.session, was: cur.session },
        'host session counter went back: new agent database',
      );
      this.o.store.newIncarnation(host);
    }
    if (s.state === 'online') {
      this.clearDown(host);
      this.o.store.setStatus(s, 'online');
      if (cur?.state !== 'online') this.o.log.info({ host, session: s.session }, 'host online');
    } else if (s.reason === 'last-will') {
      if (this.o.downGraceS <= 0) {
        this.o.store.setStatus(s, 'down');
        this.o.log.warn({ host, session: s.session }, 'host down: its Last Will fired');
      } else {
        this.o.store.setStatus(s, cur?.state === 'down' ? 'down' : 'offline');
        this.scheduleDown(host, s.session);
      }
    } else {
      this.clearDown(host);
      this.o.store.setStatus(s, 'offline');
      this.o.log.info({ host }, 'host stopped cleanly');
    }
    const pending = this.pendingInfo.get(host);
    if (pending) {
      this.pendingInfo.delete(host);
      this.o.store.setInfo(pending);
    }
    this.emit('host', this.o.store.host(host)!);
  }

  private scheduleDown(host: string, session: number): void {
    this.clearDown(host);
    const markDown = () => {
      this.downTimers.delete(host);
      const cur = this.o.store.host(host);
      if (!cur || cur.session !== session || cur.state === 'online') return;
      this.o.store.setStatus(cur.status, 'down');
      this.o.log.warn({ host, session }, 'host down: its Last Will fired');
      this.emit('host', this.o.store.host(host)!);
    };
    this.downTimers.set(host, setTimeout(markDown, this.o.downGraceS * 1000).unref());
  }

  private clearDown(host: string): void {
    const t = this.downTimers.get(host);
    if (t) clearTimeout(t);
    this.downTimers.delete(host);
  }

  private info(i: HostInfo, host: string): void {
    this.checkHost(i, host);
    if (!this.o.store.host(host)) {
      // retained messages may come in any order: keep it until the host's first status
      this.pendingInfo.set(host, i);
      return;
    }
    this.o.store.setInfo(i);
    this.emit('host', this.o.store.host(host)!);
  }

  private metrics(m: HostMetrics, host: string): void {
    this.checkHost(m, host);
    this.hostMetrics.set(host, m);
    this.steps.add({
      host,
      vm: '',
      ts: m.ts,
      cpuPct: m.cpu.usagePct,
      memBytes: m.memory.usedBytes,
      rxBps: m.net.reduce((a, n) => a + n.rxBps, 0),
      txBps: m.net.reduce((a, n) => a + n.txBps, 0),
    });
    this.emit('host-metrics', m);
  }

  private vmBatch(b: VmMetricsBatch, host: string): void {
    this.checkHost(b, host);
    const prev = this.vmMetrics.get(host);
    const before = new Map(prev?.vms.map((v) => [v.vm, v]) ?? []);
    const dt = prev ? (b.ts - prev.ts) / 1000 : 0;
    for (const v of b.vms) {
      const p = before.get(v.vm);
      const sum = (list: { rxBytes: number; txBytes: number }[], k: 'rxBytes' | 'txBytes') =>
        list.reduce((a, n) => a + n[k], 0);
      const rate = (k: 'rxBytes' | 'txBytes') => {
        if (!p || dt <= 0) return 0;
        const d = sum(v.net, k) - sum(p.net, k);
        return d >= 0 ? d / dt : 0;
      };
      this.steps.add({
        host,
        vm: v.vm,
        ts: b.ts,
        cpuPct: v.cpuPct,
        memBytes: v.memUsedBytes,
        rxBps: rate('rxBytes'),
        txBps: rate('txBytes'),
      });
    }
    this.vmMetrics.set(host, b);
    this.emit('vm-metrics', b);
  }

  private vmState(s: VmState, host: string, vm: string): void {
    this.checkHost(s, host);
    if (s.vm !== vm) throw new MalformedMessageError('bad-topic', `payload VM ${s.vm} differs from the topic's ${vm}`);
    const cur = this.o.store.vm(vm);
    if (cur && cur.host === host && s.seq <= cur.seq) {
      this.duplicates++;
      return;
    }
    if (s.state === 'deleted') {
      this.vmGone(host, vm);
      return;
    }
    this.o.store.putVm(s);
    this.emit('vm-state', { host, vm, state: s.state, body: s });
  }

  /** The host's whole inventory; an older one (session, then generation) than the last applied is ignored. */
  private inventory(i: HostInventory, host: string): void {
    this.checkHost(i, host);
    const last = this.inventories.get(host);
    if (last && (i.session < last.session || (i.session === last.session && i.generation < last.generation))) {
      this.duplicates++;
      return;
    }
    this.inventories.set(host, i);
    this.emit('inventory', i);
  }

  private vmGone(host: string, vm: string): void {
    const cur = this.o.store.vm(vm);
    if (!cur || cur.host !== host) return;
    this.o.store.deleteVm(vm, host);
    this.emit('vm-state', { host, vm, state: 'deleted', body: undefined });
  }

  private event(e: HostEvent, host: string): void {
    this.checkHost(e, host);
    if (this.o.store.addEvent(e)) this.emit('event', e);
    else this.duplicates++;
  }

  /** Ingest lag percentile in ms (p in 0..1) over the last complete 10 s window. */
  lagPercentile(p: number): number {
    return this.lags.percentile(p);
  }
}
