// The agent's MQTT connection: MQTT 3.1.1, a persistent session (clean=false) so that commands sent
// during a short outage are delivered on return, a Last Will (retained "offline" carrying the
// session counter of this very connection), reconnection with exponential backoff, and the envelope
// (v, ts, host, session, seq) on everything published. State goes out only while connected (it is
// republished in full at each connect); events go through the bounded outbox.

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { ConfigError } from '../../common/errors.ts';
import { VERSION } from '../../common/version.ts';
import { redactSecrets } from '../../common/redact.ts';
import { encode, PROTOCOL_VERSION, topicMatches, topics } from '../../protocol/mqtt/index.ts';
import type { AgentConfig } from '../config.ts';
import { Outbox } from './outbox.ts';
import type { SessionStore } from './session-store.ts';

export interface LinkOptions {
  config: AgentConfig['mqtt'];
  hostId: string;
  sessions: SessionStore;
  log: Logger;
}

/** Handles a message; returning false withholds its PUBACK (the broker redelivers it to the next session). */
type Handler = (topic: string, payload: Buffer) => boolean | undefined;

function pem(path: string, key: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`cannot read [mqtt] ${key} ${path}: ${(err as Error).message}`, { path });
  }
}

export class MqttLink extends EventEmitter<{ connected: [{ session: number }]; disconnected: [] }> {
  client: MqttClient | undefined;
  session = 0;
  readonly outbox: Outbox;
  private readonly subs = new Map<string, Handler>();
  private backoffMs = 500;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly base: IClientOptions;

  constructor(private readonly o: LinkOptions) {
    super();
    const c = o.config;
    this.outbox = new Outbox(c.queue_max);
    this.base = {
      protocolVersion: 4,
      clientId: `stratus-agent-${o.hostId}`,
      clean: false,
      keepalive: c.keepalive_s,
      reconnectPeriod: 0, // reconnection (with backoff and a new Will) is ours
      connectTimeout: 10_000,
      resubscribe: false,
      // mqtt-packet's default pre-builds 65,536 two-byte Buffers (one per message id) at the first
      // packet: ~6.5 MB of heap kept for good, to save one 2-byte allocation per QoS 1 message
      writeCache: false,
      ...(c.username ? { username: c.username } : {}),
      ...(c.password ? { password: c.password } : {}),
    };
    const ca = pem(c.tls_ca, 'tls_ca');
    const cert = pem(c.tls_cert, 'tls_cert');
    const key = pem(c.tls_key, 'tls_key');
    if (ca) this.base.ca = ca;
    if (cert) this.base.cert = cert;
    if (key) this.base.key = key;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Envelope fields for a new message of this host. */
  envelope(): { v: 1; ts: number; host: string; session: number; seq: number } {
    return {
      v: PROTOCOL_VERSION,
      ts: Date.now(),
      host: this.o.hostId,
      session: this.session,
      seq: this.o.sessions.nextSeq(),
    };
  }

  statusBody(state: 'online' | 'offline', reason: 'connected' | 'last-will' | 'shutdown') {
    return {
      ...this.envelope(),
      state,
      reason,
      agentVersion: VERSION,
      keepaliveS: this.o.config.keepalive_s,
      metricsIntervalS: this.o.config.metrics_interval_s,
    };
  }

  start(): void {
    this.attempt();
  }

  private attempt(): void {
    this.timer = undefined;
    if (this.stopped) return;
    this.session = this.o.sessions.nextSession();
    const will = {
      topic: topics.hostStatus(this.o.hostId),
      payload: encode(this.statusBody('offline', 'last-will')),
      qos: 1 as const,
      retain: true,
    };
    if (!this.client) {
      this.client = mqtt.connect(this.o.config.url, { ...this.base, will });
      this.client.on('connect', () => this.onConnect());
      this.client.on('close', () => this.onClose());
      this.client.on('error', (err) => this.o.log.debug({ err: err.message }, 'MQTT error'));
      // messages are handled before their PUBACK is sent: a handler that declines one (the agent is
      // stopping) leaves it unacknowledged, and the persistent session redelivers it after reconnect
      this.client.handleMessage = (packet, callback) => {
        const accepted = this.dispatch(packet.topic, packet.payload as Buffer);
        callback(accepted ? undefined : new Error('message declined; left for redelivery'));
      };
    } else {
      this.client.options.will = will;
      this.client.reconnect();
    }
  }

  private onConnect(): void {
    this.backoffMs = 500;
    this.o.log.info({ url: this.o.config.url, session: this.session }, 'MQTT connected');
    const client = this.client!;
    for (const filter of this.subs.keys()) client.subscribe(filter, { qos: 1 });
    this.emit('connected', { session: this.session });
    this.outbox.online((item, done) => client.publish(item.topic, item.payload, { qos: 1 }, (err) => done(err)));
  }

  private onClose(): void {
    this.outbox.offline();
    if (this.stopped || this.timer) return;
    const delay = Math.round(this.backoffMs * (0.8 + Math.random() * 0.4));
    this.backoffMs = Math.min(this.o.config.reconnect_max_s * 1000, this.backoffMs * 2);
    this.o.log.warn({ retryInMs: delay, queued: this.outbox.length }, 'MQTT disconnected; will reconnect');
    this.emit('disconnected');
    this.timer = setTimeout(() => this.attempt(), delay);
  }

  private dispatch(topic: string, payload: Buffer): boolean {
    let accepted = true;
    for (const [filter, h] of this.subs)
      if (topicMatches(filter, topic) && h(topic, payload) === false) accepted = false;
    return accepted;
  }

  /** Subscribes (now and after every reconnect) with QoS 1. */
  subscribe(filter: string, handler: Handler): void {
    this.subs.set(filter, handler);
    if (this.connected) this.client!.subscribe(filter, { qos: 1 });
  }

  /** Publishes state (without secrets) if connected (republished on connect anyway); whether it went out. */
  publishState(topic: string, body: object | Buffer, opts: { retain?: boolean; qos?: 0 | 1 } = {}): boolean {
    if (!this.connected) return false;
    const payload = Buffer.isBuffer(body) ? body : encode(redactSecrets(body));
    this.client!.publish(topic, payload, { qos: opts.qos ?? 1, retain: opts.retain ?? false });
    return true;
  }

  /** Queues an event or reply (with its envelope, without secrets) for in-order, at-least-once delivery. */
  publishEvent(topic: string, body: object): void {
    const msg = { ...this.envelope(), ...redactSecrets(body) };
    this.outbox.push({ topic, payload: encode(msg), seq: msg.seq });
  }

  /** Clean stop: flush the outbox briefly, retained "offline" (shutdown), DISCONNECT (no Will). Bounded. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    if (!client) return;
    const bounded = (p: Promise<unknown>, ms: number) =>
      Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, ms).unref())]);
    if (client.connected) {
      await this.outbox.drain(2000);
      const body = encode(this.statusBody('offline', 'shutdown'));
      await bounded(client.publishAsync(topics.hostStatus(this.o.hostId), body, { qos: 1, retain: true }), 2000);
    }
    await bounded(client.endAsync(!client.connected), 2000);
    if (!client.disconnected) client.end(true);
  }
}
