// Wires the controller together: configuration, database, the embedded MQTT broker (or a connection
// to an external one), and the HTTP listener. `daemon.app` is the express app served on [api] listen:
// other features mount their routes on it before start(); the 404 and problem+json handlers are
// installed last, by start().

import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import express from 'express';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { createLogger } from '../common/logger.ts';
import { notFoundRoute, problemHandler } from '../common/http-problem.ts';
import { VERSION } from '../common/version.ts';
import { ensureDir } from '../drivers/host-fs.ts';
import type { ControllerConfig } from './config.ts';
import { ControllerDb } from './db.ts';
import { listenHttp } from './http-listen.ts';
import { EmbeddedBroker } from './mqtt/broker.ts';
import { connectController } from './mqtt/client.ts';

export class ControllerDaemon {
  readonly log: Logger;
  readonly db: ControllerDb;
  /** The HTTP API: mount routes here before start(). */
  readonly app: express.Express;
  broker: EmbeddedBroker | undefined;
  mqtt: MqttClient | undefined;
  apiAddress = '';
  private server: Server | undefined;
  private readonly startedAt = Date.now();
  /** Secret of the controller's own account on the embedded broker, regenerated at each start. */
  private readonly internalSecret = randomBytes(24).toString('base64url');

  constructor(readonly config: ControllerConfig) {
    this.log = createLogger('stratus-controller', config.log.level, { site: config.controller.site });
    this.db = ControllerDb.inStateDir(config.controller.state_dir);
    this.app = express();
    this.app.disable('x-powered-by');
    this.app.use('/v1', express.json({ limit: '1mb', strict: true }));
    this.app.get('/v1/health', (_req, res) => {
      const mqttUp = this.mqtt?.connected ?? false;
      res.status(mqttUp ? 200 : 503).json({
        status: mqttUp ? 'ok' : 'mqtt-disconnected',
        site: config.controller.site,
        version: VERSION,
        uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
        mqtt: { embedded: config.mqtt.embedded, connected: mqttUp },
      });
    });
  }

  async start(): Promise<void> {
    await ensureDir(this.config.controller.state_dir);
    const m = this.config.mqtt;
    if (m.embedded) {
      this.broker = new EmbeddedBroker({
        log: this.log,
        listen: m.listen,
        wsListen: m.ws_listen,
        maxPayloadBytes: m.max_payload_bytes,
      });
      await this.broker.start();
    }
    this.app.use(notFoundRoute);
    this.app.use(problemHandler(this.log));
    const { server, address } = await listenHttp(this.app, this.config.api.listen);
    this.server = server;
    this.apiAddress = address;
    this.broker?.attach(server, '/mqtt');
    this.mqtt = await connectController(this.config, this.mqttTarget());
    this.mqtt.on('error', (err) => this.log.warn({ err: err.message }, 'MQTT client error'));
    this.log.info({ api: address, version: VERSION, mqtt: this.mqttTarget().url }, 'controller started');
  }

  /** Where the controller's own client connects. */
  private mqttTarget(): { url: string; username?: string; password?: string } {
    const m = this.config.mqtt;
    if (!m.embedded || m.url) return { url: m.url, username: m.username, password: m.password };
    const url = this.broker?.tcpAddress ? `mqtt://${this.broker.tcpAddress}` : `ws://${this.apiAddress}/mqtt`;
    return { url, username: 'stratus-controller', password: this.internalSecret };
  }

  async stop(): Promise<void> {
    await this.mqtt?.endAsync(true).catch(() => undefined);
    const server = this.server;
    if (server) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      server.closeAllConnections();
      await closed;
    }
    await this.broker?.stop();
    this.db.close();
    this.log.info('controller stopped');
  }
}
