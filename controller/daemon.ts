// Wires the controller together: configuration, database, the embedded MQTT broker (or a connection
// to an external one), the fleet ingest and command dispatch over MQTT, and the HTTP listener.
// `daemon.app` is the express app served on [api] listen: other features mount their routes on it
// before start(); the 404 and problem+json handlers are installed last, by start(). The dashboard
// (/dashboard/) and Prometheus (/metrics) are mounted here.

import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import express from 'express';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { notFoundRoute, problemHandler } from '../common/http-problem.ts';
import { ConflictError } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { VERSION } from '../common/version.ts';
import { ensureDir, resolveRealPath } from '../drivers/host-fs.ts';
import { HostPathGuard } from '../common/host-paths.ts';
import { secretEquals } from '../common/secret-compare.ts';
import { filters } from '../protocol/mqtt/index.ts';
import type { ControllerConfig } from './config.ts';
import { dashboardRoutes } from './dashboard/routes.ts';
import { ControllerDb } from './db.ts';
import { Cloud } from './cloud.ts';
import { SystemdNotifier } from '../drivers/systemd-notify.ts';
import { FleetService } from './fleet/fleet.ts';
import { FleetIngest } from './fleet/ingest.ts';
import { renderPrometheus } from './fleet/prometheus.ts';
import { FleetStore } from './fleet/store.ts';
import { listenHttp } from './http-listen.ts';
import { MqttAccounts, verifyPassword } from './mqtt/accounts.ts';
import { AccountAuth } from './mqtt/acl.ts';
import { AgentClient } from './mqtt/agent-client.ts';
import { EmbeddedBroker } from './mqtt/broker.ts';
import { connectController } from './mqtt/client.ts';
import { NetworkFeature } from './network/feature.ts';
import { VolumeFeature } from './volumes/feature.ts';
import { controllerVolumeHosts, volumeDeployHook } from './volumes/hosts.ts';
import { volumeRoutes } from './volumes/routes.ts';

const INTERNAL_USER = 'stratus-controller';
const DASHBOARD_USER = 'stratus-dashboard';

export class ControllerDaemon {
  readonly log: Logger;
  readonly db: ControllerDb;
  /** The HTTP API: mount routes here before start(). */
  readonly app: express.Express;
  /** What the hosts report (the `Fleet` port): hosts, VM states, 'host' and 'vm-state' events. */
  readonly fleet: FleetService;
  /** Commands to agents (the `CommandDispatcher` port): `agents.dispatch(host, command, args, opts)`. */
  readonly agents: AgentClient;
  /** Broker accounts (hosts, dashboards) for the embedded broker and the mosquitto files. */
  readonly accounts: MqttAccounts;
  readonly ingest: FleetIngest;
  /** Users, images, instance types, VMs and the scheduler (controller/cloud.ts). */
  readonly cloud: Cloud;
  /** sd_notify for the Type=notify unit (READY, WATCHDOG, STATUS, STOPPING); a no-op outside systemd. */
  readonly notify = new SystemdNotifier();
  /** Networks (IPAM, DHCP) and context CD-ROMs. */
  readonly networks: NetworkFeature;
  /** Persistent volumes: tgtd targets or shared files, attached through the agents' volume.* commands. */
  readonly volumes: VolumeFeature;
  broker: EmbeddedBroker | undefined;
  mqtt: MqttClient | undefined;
  apiAddress = '';
  private server: Server | undefined;
  private readonly startedAt = Date.now();
  /** Secrets of the controller's own session and of dashboards on the embedded broker (per start). */
  private readonly internalSecret = randomBytes(24).toString('base64url');
  private readonly dashboardSecret = randomBytes(24).toString('base64url');

  /** `opts.log` replaces the stdout logger (tests capture what the controller logs). */
  constructor(
    readonly config: ControllerConfig,
    opts: { log?: Logger } = {},
  ) {
    this.log = opts.log ?? createLogger('stratus-controller', config.log.level, { site: config.controller.site });
    this.db = ControllerDb.inStateDir(config.controller.state_dir);
    const store = new FleetStore(this.db.db);
    this.accounts = new MqttAccounts(this.db.db);
    this.ingest = new FleetIngest({
      store,
      log: this.log.child({ part: 'ingest' }),
      maxPayloadBytes: config.mqtt.max_payload_bytes,
      downGraceS: config.mqtt.host_down_grace_s,
      history: {
        rawS: config.metrics.history_raw_s,
        bucketS: config.metrics.history_bucket_s,
        keepS: config.metrics.history_keep_s,
      },
    });
    this.fleet = new FleetService(store, this.ingest);
    this.agents = new AgentClient({
      mqtt: () => this.mqtt,
      hostState: (id) => this.fleet.dispatchState(id),
      log: this.log.child({ part: 'dispatch' }),
    });
    this.ingest.on('reply', (r) => this.agents.handleReply(r));
    this.app = express();
    this.app.disable('x-powered-by');
    // JSON bodies are parsed by each route with its own size limit (controller/api/route.ts)
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
    this.app.get('/metrics', async (_req, res) => {
      res.type('text/plain; version=0.0.4').send(await renderPrometheus(store, this.ingest));
    });
    this.app.use(dashboardRoutes(store, () => this.dashboardSettings()));
    // users, images, instance types, VMs, scheduler: the REST API under /v1 (bearer tokens from here on)
    // networks (IPAM, DHCP with dnsmasq) and context CD-ROMs: a deploy hook for the cloud, routes after it
    this.networks = new NetworkFeature({
      config,
      db: this.db.db,
      log: this.log,
      apiAddress: () => this.apiAddress,
      contextFor: (vm) => this.cloud.keys.contexts.request(vm.id),
    });
    this.cloud = new Cloud({
      hooks: [this.networks.deployHook, volumeDeployHook(() => this.volumes.service)],
      resolveNetwork: (n) => this.networks.ipam.getNetwork(n).id,
      vmViewExtras: [(vm) => ({ addresses: this.networks.addresses(vm.id) })],
      checkVolume: (id, who) => {
        const v = this.volumes.service.get(id, who.role === 'admin' ? undefined : who.id);
        if (v.state !== 'available' && !v.shareable) throw new ConflictError(`volume ${v.name} is ${v.state}`, { id });
      },
      config,
      db: this.db.db,
      app: this.app,
      log: this.log,
      fleet: this.fleet,
      dispatcher: this.agents,
      apiAddress: () => this.apiAddress,
    });
    this.networks.mount(this.app);
    // volumes, under /v1 after authentication (the routes check roles and ownership)
    this.volumes = new VolumeFeature({
      db: this.db.db,
      log: this.log,
      config: config.volumes,
      paths: new HostPathGuard(config.controller.allowed_roots, resolveRealPath),
      hosts: controllerVolumeHosts({
        dispatcher: this.agents,
        vm: (id) => this.cloud.store.find(id),
        timeoutMs: config.scheduler.action_timeout_s * 1000,
      }),
    });
    this.app.use('/v1', volumeRoutes(this.volumes.service));
  }

  private dashboardSettings() {
    const m = this.config.mqtt;
    const internal = m.embedded && m.require_auth && !m.dashboard_username;
    return {
      wsUrl: m.dashboard_ws_url,
      username: internal ? DASHBOARD_USER : m.dashboard_username,
      password: internal ? this.dashboardSecret : m.dashboard_password,
      site: this.config.controller.site,
    };
  }

  async start(): Promise<void> {
    await ensureDir(this.config.controller.state_dir);
    await this.networks.start();
    await this.volumes.start();
    const m = this.config.mqtt;
    if (m.embedded) {
      const auth = m.require_auth
        ? new AccountAuth(
            (u) => (u === DASHBOARD_USER ? { username: u, role: 'dashboard', hash: '' } : this.accounts.get(u)),
            (pw, hash) => (hash === '' ? secretEquals(pw, this.dashboardSecret) : verifyPassword(pw, hash)),
            { username: INTERNAL_USER, secret: this.internalSecret },
          )
        : undefined;
      this.broker = new EmbeddedBroker({
        log: this.log.child({ part: 'broker' }),
        listen: m.listen,
        wsListen: m.ws_listen,
        maxPayloadBytes: 4 * m.max_payload_bytes,
        auth,
      });
      await this.broker.start();
    }
    this.app.use(notFoundRoute);
    this.app.use(problemHandler(this.log));
    const { server, address } = await listenHttp(this.app, this.config.api.listen);
    this.server = server;
    this.apiAddress = address;
    this.broker?.attach(server, '/mqtt');
    this.ingest.start();
    this.mqtt = await connectController(this.config, this.mqttTarget());
    this.mqtt.on('error', (err) => this.log.warn({ err: err.message }, 'MQTT client error'));
    this.mqtt.on('message', (topic, payload) => this.ingest.handle(topic, payload));
    this.mqtt.on('offline', () => this.log.warn('MQTT connection lost; reconnecting'));
    await this.mqtt.subscribeAsync(filters.allHosts, { qos: 1 });
    this.cloud.start();
    this.log.info({ api: address, version: VERSION, mqtt: this.mqttTarget().url }, 'controller started');
    this.notify.ready(`API on ${address}`);
  }

  /** Where the controller's own client connects. */
  private mqttTarget(): { url: string; username?: string; password?: string } {
    const m = this.config.mqtt;
    if (!m.embedded || m.url) return { url: m.url, username: m.username, password: m.password };
    const url = this.broker?.tcpAddress ? `mqtt://${this.broker.tcpAddress}` : `ws://${this.apiAddress}/mqtt`;
    return { url, username: INTERNAL_USER, password: this.internalSecret };
  }

  async stop(): Promise<void> {
    this.notify.stopping();
    this.cloud.stop();
    this.agents.close();
    await this.mqtt?.endAsync(true).catch(() => undefined);
    this.ingest.stop();
    const server = this.server;
    if (server) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      server.closeAllConnections();
      await closed;
    }
    await this.broker?.stop();
    await this.networks.stop();
    await this.volumes.stop();
    this.db.close();
    this.log.info('controller stopped');
    this.notify.close();
  }
}
