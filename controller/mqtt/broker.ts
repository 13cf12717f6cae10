// The embedded MQTT broker (aedes): MQTT over TCP, and MQTT over WebSocket both on its own port and
// on the controller's HTTP listener at /mqtt (so the dashboard needs no extra port), each over TLS
// when given a key and certificate. Authentication and topic authorisation are delegated to a
// `BrokerAuth` (see acl.ts); the controller always gives one (only unit tests run without).

import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { createServer as createTlsServer, type SecureContextOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { boundedEmitter } from './bounded-emitter.ts';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocketServer } from 'ws';

/** A retained message as aedes's persistence streams it. */
type Packet = { topic: string; payload: unknown };

/** 'anonymous' is never stored: it is what a client without credentials gets when allow_anonymous is set. */
export type BrokerRole = 'controller' | 'host' | 'dashboard' | 'anonymous';

export interface BrokerPrincipal {
  username: string;
  role: BrokerRole;
}

/** Who may connect, and what each principal may publish and read. */
export interface BrokerAuth {
  authenticate(username: string | undefined, password: Buffer | undefined): BrokerPrincipal | undefined;
  canPublish(who: BrokerPrincipal, topic: string): boolean;
  canSubscribe(who: BrokerPrincipal, filter: string): boolean;
}

export interface BrokerOptions {
  log: Logger;
  /** host:port for MQTT over TCP; '' disables it. */
  listen: string;
  /** host:port for a dedicated MQTT-over-WebSocket listener; '' disables it. */
  wsListen: string;
  auth?: BrokerAuth | undefined;
  /** Key and certificate (PEM) for the TCP listener: MQTT over TLS (mqtts). */
  tcpTls?: SecureContextOptions | undefined;
  /** Key and certificate (PEM) for the WebSocket listener (wss). */
  wsTls?: SecureContextOptions | undefined;
  /** Hard cap; larger publications are dropped at the broker (receivers apply their own limit). */
  maxPayloadBytes?: number;
}

function splitHostPort(spec: string): { host: string; port: number } {
  const i = spec.lastIndexOf(':');
  return { host: spec.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(spec.slice(i + 1)) };
}

function listenOn(server: NetServer | HttpServer, spec: string): Promise<string> {
  const { host, port } = splitHostPort(spec);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a ? `${a.address}:${a.port}` : spec);
    });
  });
}

const PRINCIPAL = Symbol('stratus.principal');
/** Where denied publications go: no subscription can reach it (see canSubscribe). */
const DENIED_TOPIC = '$stratus/denied';
type WithPrincipal = { [PRINCIPAL]?: BrokerPrincipal };

/** Messages the broker's bus delivers at once (aedes's default). */
const BUS_CONCURRENCY = 100;

export class EmbeddedBroker {
  aedes!: Aedes;
  /** Actual addresses once started (port 0 resolved). */
  tcpAddress = '';
  wsAddress = '';
  private tcp: NetServer | undefined;
  private wsHttp: HttpServer | undefined;
  private readonly wss = new WebSocketServer({ noServer: true });
  /** Connected clients (to end the sessions of revoked or expired accounts). */
  private readonly live = new Set<Client>();

  constructor(private readonly opts: BrokerOptions) {}

  async start(): Promise<void> {
    const { auth, log } = this.opts;
    const maxPayload = this.opts.maxPayloadBytes ?? 1_048_576;
    this.aedes = await Aedes.createBroker({
      id: 'stratus-controller',
      // aedes's message bus, with the recursion that overflowed the stack under load bounded
      concurrency: BUS_CONCURRENCY,
      mq: boundedEmitter({ concurrency: BUS_CONCURRENCY }),
      authenticate: (client, username, password, done) => {
        if (!auth) return done(null, true);
        const who = auth.authenticate(username, password);
        if (!who) {
          log.warn({ clientId: client.id, username }, 'MQTT connection refused: bad username or password');
          const err = new Error('bad username or password') as AuthenticateError;
          err.returnCode = 4;
          return done(err, false);
        }
        (client as unknown as WithPrincipal)[PRINCIPAL] = who;
        done(null, true);
      },
      authorizePublish: (client, packet, done) => {
        const drop = (why: string, extra: object) => {
          log.warn({ clientId: client?.id, topic: packet.topic, ...extra }, why);
          // As mosquitto does for MQTT 3.1.1: acknowledge and drop (aedes would close the connection,
          // and a client's QoS 1 retry would loop). '$'-topics match no '#' subscription.
          packet.topic = DENIED_TOPIC;
          packet.retain = false;
          packet.payload = Buffer.alloc(0);
          done(null);
        };
        if (packet.payload && packet.payload.length > maxPayload) {
          return drop('MQTT publish dropped: oversized', { reason: 'oversized', bytes: packet.payload.length });
        }
        if (!auth || !client) return done(null);
        const who = (client as unknown as WithPrincipal)[PRINCIPAL];
        if (who && auth.canPublish(who, packet.topic)) return done(null);
        drop('MQTT publish denied', { user: who?.username });
      },
      authorizeSubscribe: (client, sub, done) => {
        if (!auth) return done(null, sub);
        const who = (client as unknown as WithPrincipal)[PRINCIPAL];
        if (who && auth.canSubscribe(who, sub.topic)) return done(null, sub);
        log.warn({ user: who?.username, filter: sub.topic }, 'MQTT subscribe denied');
        done(null, null); // SUBACK 0x80 for this filter, connection kept
      },
    });
    this.aedes.on('client', (c) => this.live.add(c));
    this.aedes.on('clientDisconnect', (c) => this.live.delete(c));
    this.aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'client error'));
    if (this.opts.listen) {
      const handle = (socket: Duplex) => this.aedes.handle(socket);
      this.tcp = this.opts.tcpTls ? createTlsServer(this.opts.tcpTls, handle) : createNetServer(handle);
      this.tcpAddress = await listenOn(this.tcp, this.opts.listen);
    }
    if (this.opts.wsListen) {
      const only = (_req: IncomingMessage, res: import('node:http').ServerResponse) =>
        res.writeHead(426).end('MQTT over WebSocket only\n');
      this.wsHttp = this.opts.wsTls ? createHttpsServer(this.opts.wsTls, only) : createHttpServer(only);
      this.attach(this.wsHttp, '/');
      this.wsAddress = await listenOn(this.wsHttp, this.opts.wsListen);
    }
    log.info(
      {
        tcp: this.tcpAddress || 'off',
        ws: this.wsAddress || 'off',
        tcpTls: Boolean(this.opts.tcpTls),
        wsTls: Boolean(this.opts.wsTls),
      },
      'embedded MQTT broker started',
    );
  }

  /**
   * Hands the controller every message matching `filter` in-process, straight from the broker's bus:
   * no loopback connection, no encoding and parsing again (at 10,000 hosts, 2,100 messages a second
   * went out to the controller's own socket and back in). The messages retained before it are handed
   * over after the subscription is in place (one may come twice; the ingest applies each once).
   * Broker and controller live and die together, so nothing waits in a session for the other.
   */
  async consume(filter: string, handle: (topic: string, payload: Buffer) => void): Promise<void> {
    const deliver = (topic: string, payload: unknown) => {
      try {
        handle(topic, Buffer.isBuffer(payload) ? payload : Buffer.from(String(payload ?? '')));
      } catch (err) {
        this.opts.log.error({ topic, err: (err as Error).message }, 'in-process MQTT consumer failed');
      }
    };
    await new Promise<void>((resolve, reject) =>
      this.aedes.subscribe(
        filter,
        (packet, done) => {
          deliver(packet.topic, packet.payload);
          done();
        },
        (err?: Error) => (err ? reject(err) : resolve()),
      ),
    );
    const retained = (
      this.aedes as unknown as { persistence: { createRetainedStream(f: string): AsyncIterable<Packet> } }
    ).persistence;
    for await (const packet of retained.createRetainedStream(filter)) deliver(packet.topic, packet.payload);
  }

  /** Ends the sessions of every client whose principal matches (a revoked host, an expired account). */
  disconnect(match: (who: BrokerPrincipal) => boolean): number {
    let n = 0;
    for (const client of this.live) {
      const who = (client as unknown as WithPrincipal)[PRINCIPAL];
      if (who && match(who)) {
        client.close();
        n++;
      }
    }
    if (n) this.opts.log.warn({ clients: n }, 'MQTT sessions ended: credentials revoked or expired');
    return n;
  }

  /** Serves MQTT over WebSocket on `server` for upgrade requests to `path` ('/' accepts any path). */
  attach(server: HttpServer, path: string): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = req.url ?? '/';
      if (path !== '/' && url.split('?')[0] !== path) return;
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => ws.terminate());
        this.aedes.handle(stream, req);
      });
    });
  }

  async stop(): Promise<void> {
    const closeServer = (s: NetServer | HttpServer | undefined) =>
      s ? new Promise<void>((r) => s.close(() => r())) : Promise.resolve();
    for (const ws of this.wss.clients) ws.terminate();
    const a = this.aedes;
    const closed = a ? new Promise<void>((r) => a.close(() => r())) : Promise.resolve();
    this.wsHttp?.closeAllConnections();
    await Promise.all([closeServer(this.tcp), closeServer(this.wsHttp), closed]);
    this.wss.close();
  }
}
