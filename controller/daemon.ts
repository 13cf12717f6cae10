// Wires the controller together: configuration, database, the embedded MQTT broker (or a connection
// to an external one), command dispatch over MQTT, the HTTP listener, and the features
// (controller/feature.ts), built in one declared order, each from those before it:
//   audit → auth → fleet → images → keys → network → context → volumes → vms
// Their routes are mounted under /v1 behind authentication; they start in that order once the API
// listens and MQTT is connected, and stop in the reverse order. `daemon.app` is the express app served
// on [api] listen; the 404 and problem+json handlers are installed last, by start(). The dashboard
// (/dashboard/) and Prometheus (/metrics) are mounted here.

import type { Server } from 'node:http';
import express from 'express';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { notFoundRoute, problemHandler } from '../common/http-problem.ts';
import { createLogger } from '../common/logger.ts';
import { VERSION } from '../common/version.ts';
import { HostPathGuard } from '../common/host-paths.ts';
import { ensureDir, resolveRealPath } from '../drivers/host-fs.ts';
import { SystemdNotifier } from '../drivers/systemd-notify.ts';
import { filters } from '../protocol/mqtt/index.ts';
import { Access, INTERNAL_USER } from './access.ts';
import { openApiDocument } from './api/openapi.ts';
import { AuditFeature } from './audit/feature.ts';
import { AuthFeature } from './auth/feature.ts';
import type { ControllerConfig } from './config.ts';
import { ContextFeature } from './context/feature.ts';
import { dashboardRoutes } from './dashboard/routes.ts';
import { ControllerDb } from './db.ts';
import type { ControllerFeature } from './feature.ts';
import { FleetFeature } from './fleet/feature.ts';
import type { FleetService } from './fleet/fleet.ts';
import type { FleetIngest } from './fleet/ingest.ts';
import { sendPrometheus } from './fleet/prometheus.ts';
import { LoopHealth } from './loop-health.ts';
import { listenHttp } from './http-listen.ts';
import { ImagesFeature } from './images/feature.ts';
import { KeysFeature } from './keys/feature.ts';
import { MarketplaceFeature } from './marketplace/feature.ts';
import { MqttAccounts } from './mqtt/accounts.ts';
import { AgentClient } from './mqtt/agent-client.ts';
import { EmbeddedBroker } from './mqtt/broker.ts';
import { connectController } from './mqtt/client.ts';
import { MessageRouter } from './mqtt/message-router.ts';
import { NetworkFeature } from './network/feature.ts';
import { VmFeature } from './vms/feature.ts';
import { VmStore } from './vms/store.ts';
import { controllerVolumeHosts } from './volumes/agent-commands.ts';
import { VolumeFeature } from './volumes/feature.ts';

export class ControllerDaemon {
  readonly log: Logger;
  readonly db: ControllerDb;
  /** The HTTP API: mount routes here before start(). */
  readonly app: express.Express;
  /** What the hosts report (the `Fleet` view): hosts, VM states, 'host' and 'vm-state' events. */
  readonly fleet: FleetService;
  /** Commands to agents (the `CommandDispatcher`): `agents.dispatch(host, command, args, opts)`. */
  readonly agents: AgentClient;
  /** Broker accounts (hosts, dashboards) for the embedded broker and the mosquitto files. */
  readonly accounts: MqttAccounts;
  /** TLS material, host enrolment, broker authentication, dashboard accounts, the /metrics guard. */
  readonly access: Access;
  readonly ingest: FleetIngest;
  /** Replies to the agent client, the rest to the fleet ingest. */
  readonly messages: MessageRouter;
  /** sd_notify for the Type=notify unit (READY, WATCHDOG, STATUS, STOPPING); a no-op outside systemd. */
  readonly notify = new SystemdNotifier();
  /** The audit log: API calls and host commands (GET /v1/audit). */
  readonly audit: AuditFeature;
  readonly auth: AuthFeature;
  readonly fleetFeature: FleetFeature;
  readonly images: ImagesFeature;
  /** The site Marketplace: signed entries, trusted endorser keys, replication. */
  readonly marketplace: MarketplaceFeature;
  /** Users' SSH keys and the context each VM is created with. */
  readonly keys: KeysFeature;
  /** Networks: IPAM and DHCP. */
  readonly networks: NetworkFeature;
  /** Context CD-ROMs. */
  readonly context: ContextFeature;
  /** Persistent volumes: tgtd targets or shared files, attached through the agents' volume.* commands. */
  readonly volumes: VolumeFeature;
  /** Instance types, VMs, the scheduler and the deployer. */
  readonly vms: VmFeature;
  /** Every feature, in the order they were built and start. */
  readonly features: readonly ControllerFeature[];
  broker: EmbeddedBroker | undefined;
  mqtt: MqttClient | undefined;
  apiAddress = '';
  private server: Server | undefined;
  private readonly startedAt = Date.now();
  /** Event loop delay and GC pauses, for /metrics. */
  private readonly loopHealth = new LoopHealth();

  /** `opts.log` replaces the stdout logger (tests capture what the controller logs). */
  constructor(
    readonly config: ControllerConfig,
    opts: { log?: Logger } = {},
  ) {
    this.log = opts.log ?? createLogger('stratus-controller', config.log.level, { site: config.controller.site });
    this.db = ControllerDb.inStateDir(config.controller.state_dir);
    const db = this.db.db;
    const log = this.log;
    const apiAddress = () => this.apiAddress;
    this.accounts = new MqttAccounts(db);
    this.access = new Access({ config, db, log: log.child({ part: 'access' }), accounts: this.accounts });
    // the VM records: images and volumes check them, the VM feature owns their life cycle
    const vmStore = new VmStore(db);
    this.audit = new AuditFeature(config, db, log);
    this.auth = new AuthFeature(config, db, log);
    this.fleetFeature = new FleetFeature(config, db, log);
    this.ingest = this.fleetFeature.ingest;
    this.fleet = this.fleetFeature.fleet;
    this.agents = new AgentClient({
      mqtt: () => this.mqtt,
      hostState: (id) => this.fleet.dispatchState(id),
      log: log.child({ part: 'dispatch' }),
    });
    // every command to a host goes through the audit log
    const dispatcher = this.audit.dispatcher(this.agents);
    this.messages = new MessageRouter({
      ingest: this.ingest,
      agents: this.agents,
      log: log.child({ part: 'mqtt' }),
      maxPayloadBytes: config.mqtt.max_payload_bytes,
    });
    this.images = new ImagesFeature({ config, db, log, vms: vmStore, users: this.auth.users, fleet: this.fleet });
    this.marketplace = new MarketplaceFeature({ config, db, log, registry: this.images.registry });
    this.keys = new KeysFeature({ db, siteMethod: () => config.network.context_flavour });
    this.networks = new NetworkFeature({ config, db, log });
    const contexts = this.keys.contexts;
    this.context = new ContextFeature({
      config,
      db,
      log,
      ipam: this.networks.ipam,
      apiAddress,
      contextFor: (vm) => contexts.request(vm.id),
    });
    this.volumes = new VolumeFeature({
      db,
      log,
      config: config.volumes,
      paths: new HostPathGuard(config.controller.allowed_roots, resolveRealPath),
      hosts: controllerVolumeHosts({
        dispatcher,
        vm: (id) => vmStore.find(id),
        timeoutMs: config.scheduler.action_timeout_s * 1000,
      }),
    });
    const before: ControllerFeature[] = [
      this.audit,
      this.auth,
      this.fleetFeature,
      this.images,
      this.keys,
      this.marketplace,
      this.networks,
      this.context,
      this.volumes,
    ];
    this.vms = new VmFeature({
      config,
      db,
      log,
      store: vmStore,
      users: this.auth.users,
      images: this.images,
      fleet: this.fleet,
      dispatcher,
      hooks: before.flatMap((f) => f.deployHooks ?? []),
      network: this.networks,
      volumes: this.volumes.service,
      extensions: [this.keys.createExtension],
      onImageSaved: (img) => this.marketplace.signSaved(img, this.images.content.path(img.id)),
      // what the extras below read: the context, images and Marketplace entries (imageRefused), leases
      viewTables: ['vm_context', 'images', 'market_entries', 'market_trust', 'ipam_leases', 'ipam_networks', 'users'],
      viewExtras: [
        this.keys.viewExtra,
        this.marketplace.viewExtra,
        (vms) => {
          const addresses = this.networks.addressesOf(vms.map((v) => v.id));
          return (vm) => ({ addresses: addresses.get(vm.id) ?? [] });
        },
      ],
    });
    this.features = [...before, this.vms];

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
    // /metrics: an admin token or the [metrics] token; the dashboard's data: any user's token
    this.app.get(
      '/metrics',
      this.access.metricsGuard(() => this.auth.users),
      async (_req, res) => {
        // streamed: at 10,000 hosts the exposition is ~200 MB (no whole-body copy nor ETag hash)
        await sendPrometheus(this.fleetFeature.store, this.ingest, res, this.loopHealth.last);
      },
    );
    this.app.use(
      dashboardRoutes(
        this.fleetFeature.store,
        (who) => this.access.dashboardSettings(who),
        this.auth.middleware,
        (host, vm) => this.ingest.steps.current(host, vm),
      ),
    );
    this.app.get('/v1/openapi.json', (_req, res) => {
      res.json(openApiDocument());
    });
    // the REST API under /v1: bearer tokens from here on; each route declares its role
    // audited first, so that calls refused by the failed-authentication limit or by authentication count
    this.app.use('/v1', this.audit.middleware, ...this.auth.middleware);
    for (const f of this.features) {
      for (const r of f.rootRoutes ?? []) this.app.use(r);
      for (const r of f.routes ?? []) this.app.use('/v1', r);
    }
    // host enrolment (POST /v1/hosts, /v1/hosts/{id}/revoke, /v1/join)
    this.app.use(
      '/v1',
      this.access.routes({
        broker: () => this.broker,
        addresses: () => ({ api: this.apiAddress || config.api.listen, mqtt: this.broker?.tcpAddress ?? '' }),
      }),
    );
  }

  async start(): Promise<void> {
    this.loopHealth.start();
    await ensureDir(this.config.controller.state_dir);
    const m = this.config.mqtt;
    await this.access.start(() => this.broker);
    const tls = this.access.tls!;
    // the chain ends with the site CA, so that a joining agent can pin it by its fingerprint
    const pair = { key: tls.key, cert: Buffer.concat([tls.cert, Buffer.from(`\n${tls.caPem}`)]) };
    if (m.embedded) {
      this.broker = new EmbeddedBroker({
        log: this.log.child({ part: 'broker' }),
        listen: m.listen,
        wsListen: m.ws_listen,
        maxPayloadBytes: 4 * m.max_payload_bytes,
        auth: this.access.brokerAuth(),
        tcpTls: m.listen && this.access.tlsOn(m.listen) ? pair : undefined,
        wsTls: m.ws_listen && this.access.tlsOn(m.ws_listen) ? pair : undefined,
      });
      await this.broker.start();
    }
    for (const f of this.features) await f.recover?.();
    this.app.use(notFoundRoute);
    this.app.use(problemHandler(this.log));
    const apiTls = this.access.tlsOn(this.config.api.listen);
    const { server, address } = await listenHttp(this.app, this.config.api.listen, apiTls ? pair : undefined);
    this.server = server;
    this.apiAddress = address;
    this.broker?.attach(server, '/mqtt');
    this.mqtt = await connectController(this.config, this.mqttTarget());
    this.mqtt.on('error', (err) => this.log.warn({ err: err.message }, 'MQTT client error'));
    this.mqtt.on('offline', () => this.log.warn('MQTT connection lost; reconnecting'));
    // what hosts publish: from the embedded broker in-process; from an external broker over the
    // controller's own session (persistent: QoS 1 messages wait in the broker while it is away)
    if (this.broker && !this.config.mqtt.url)
      await this.broker.consume(filters.allHosts, (topic, payload) => this.messages.handle(topic, payload));
    else {
      this.mqtt.on('message', (topic, payload) => this.messages.handle(topic, payload));
      await this.mqtt.subscribeAsync(filters.allHosts, { qos: 1 });
    }
    for (const f of this.features) await f.start?.();
    this.log.info({ api: address, version: VERSION, mqtt: this.mqttTarget().url }, 'controller started');
    this.notify.ready(`API on ${address}`);
  }

  /** Where the controller's own client connects. */
  private mqttTarget(): { url: string; username?: string; password?: string; ca?: string } {
    const m = this.config.mqtt;
    if (!m.embedded || m.url) return { url: m.url, username: m.username, password: m.password };
    // its own broker, over loopback (the certificate names 127.0.0.1 when the listener speaks TLS)
    const port = (a: string) => a.slice(a.lastIndexOf(':') + 1);
    const url = this.broker?.tcpAddress
      ? `${this.access.tlsOn(m.listen) ? 'mqtts' : 'mqtt'}://127.0.0.1:${port(this.broker.tcpAddress)}`
      : `${this.access.tlsOn(this.config.api.listen) ? 'wss' : 'ws'}://127.0.0.1:${port(this.apiAddress)}/mqtt`;
    return { url, username: INTERNAL_USER, password: this.access.internalSecret, ca: this.access.tls?.caPem };
  }

  async stop(): Promise<void> {
    this.notify.stopping();
    this.loopHealth.stop();
    // the VM service first (no new deploys), the others after the API and MQTT are closed
    await this.vms.stop();
    this.agents.close();
    await this.mqtt?.endAsync(true).catch(() => undefined);
    const server = this.server;
    if (server) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      server.closeAllConnections();
      await closed;
    }
    await this.broker?.stop();
    this.access.stop();
    for (const f of [...this.features].reverse()) if (f !== this.vms) await f.stop?.();
    this.db.close();
    this.log.info('controller stopped');
    this.notify.close();
  }
}
