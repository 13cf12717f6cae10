// Wires the agent together: configuration, database, libvirt connection, VM service, reconciler and the
// local API. Stopping the agent never touches running domains.

import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { createLogger } from '../common/logger.ts';
import { VERSION } from '../common/version.ts';
import { ensureDir, resolveRealPath } from '../drivers/host-fs.ts';
import { HostPathGuard } from '../common/host-paths.ts';
import { LibvirtConnection } from '../drivers/libvirt/index.ts';
import { SystemdNotifier } from '../drivers/systemd-notify.ts';
import { buildApp, listen } from './api/server.ts';
import { ConfigError } from '../common/errors.ts';
import { isHostId } from '../protocol/mqtt/index.ts';
import { CommandRegistry } from './mqtt/commands.ts';
import { MqttAgent } from './mqtt/mqtt-agent.ts';
import type { AgentConfig } from './config.ts';
import { Reconciler } from './vm/reconciler.ts';
import { createImageStack, type ImageStack } from './images/stack.ts';
import { SaveAsService } from './images/save-as.ts';
import { SnapshotService } from './images/snapshots.ts';
import { AgentStateDb } from './vm/state-db.ts';
import { VmService } from './vm/vm-service.ts';
import { VolumeAttacher } from './volumes/attacher.ts';
import { createOperations, type Operations } from './operations.ts';
import { VmNetwork } from './network/vm-network.ts';

export class AgentDaemon {
  readonly hostId: string;
  readonly log: Logger;
  readonly conn: LibvirtConnection;
  readonly db: AgentStateDb;
  readonly vms: VmService;
  readonly reconciler: Reconciler;
  /** Image cache (inventory(), usage() for host reports), policy, instance disks, bundles. */
  readonly images: ImageStack;
  readonly volumes: VolumeAttacher;
  readonly snapshots: SnapshotService;
  readonly saveAs: SaveAsService;
  /** Every operation of the command catalogue (agent/operations.ts): MQTT and the local API call these. */
  readonly operations: Operations;
  /** MQTT commands: every catalogue operation is registered here (`commands.register(name, handler)`). */
  readonly commands = new CommandRegistry();
  /** The MQTT side (status, metrics, events, commands) when [mqtt] url is set. */
  mqtt: MqttAgent | undefined;
  /** sd_notify for Type=notify units (READY, WATCHDOG, STATUS, STOPPING); a no-op outside systemd. */
  readonly notify = new SystemdNotifier();
  /** Bridges of Stratus networks and per-VM firewall rules. */
  readonly network: VmNetwork;
  private server: Server | undefined;
  private stopping = false;
  apiAddress = '';

  constructor(readonly config: AgentConfig) {
    this.hostId = config.agent.host_id || hostname();
    this.log = createLogger('stratus-agent', config.log.level, { host: this.hostId });
    this.conn = new LibvirtConnection({
      uri: config.libvirt.uri,
      workers: config.libvirt.workers,
      keepAliveIntervalS: config.libvirt.keepalive_interval_s,
      keepAliveCount: config.libvirt.keepalive_count,
    });
    this.conn.on('error', (err) => this.log.error({ err }, 'libvirt connection error'));
    this.db = new AgentStateDb(join(config.agent.state_dir, 'agent.db'));
    this.images = createImageStack(config, this.db, this.log);
    const paths = new HostPathGuard(config.agent.allowed_roots, resolveRealPath);
    this.network = new VmNetwork({
      log: this.log,
      table: config.network.firewall_table,
      contextDir: join(config.agent.state_dir, 'context'),
    });
    this.volumes = new VolumeAttacher({
      conn: this.conn,
      db: this.db.db,
      log: this.log,
      hostId: this.hostId,
      iscsiMode: config.volumes.iscsi_mode,
      initiatorName: config.volumes.initiator_name,
      detachTimeoutMs: config.volumes.detach_timeout_s * 1000,
      loginTimeoutMs: config.volumes.login_timeout_s * 1000,
      vmExists: (id) => this.db.get(id) !== undefined,
      runExclusive: (id, fn) => this.vms.locks.run(id, fn),
      paths,
    });
    this.vms = new VmService({
      volumes: this.volumes,
      disks: this.images.disks,
      network: this.network,
      paths,
      conn: this.conn,
      db: this.db,
      log: this.log,
      hostId: this.hostId,
      virtType: config.libvirt.virt_type,
      consoleLogDir: config.agent.console_log_dir,
      shutdownTimeoutMs: config.libvirt.shutdown_timeout_s * 1000,
    });
    this.snapshots = new SnapshotService({ conn: this.conn, state: this.db, vms: this.vms, log: this.log });
    this.saveAs = new SaveAsService({
      conn: this.conn,
      vms: this.vms,
      disks: this.images.disks,
      cache: this.images.cache,
      log: this.log,
    });
    this.reconciler = new Reconciler({
      network: this.network,
      conn: this.conn,
      db: this.db,
      vms: this.vms,
      log: this.log,
      intervalMs: config.agent.resync_interval_s * 1000,
    });
    this.operations = createOperations({
      vms: this.vms,
      snapshots: this.snapshots,
      saveAs: this.saveAs,
      cache: this.images.cache,
      volumes: this.volumes,
      afterDelete: () => this.mqtt?.vmDeleted(),
    });
    this.commands.registerAll(this.operations);
    if (config.mqtt.url) {
      if (!isHostId(this.hostId)) {
        throw new ConfigError(`host id "${this.hostId}" cannot be an MQTT topic level: set [agent] host_id`, {
          hostId: this.hostId,
        });
      }
      this.mqtt = new MqttAgent({
        config,
        hostId: this.hostId,
        conn: this.conn,
        db: this.db,
        vms: this.vms,
        registry: this.commands,
        log: this.log,
        images: async () => this.images.cache.inventory().map((i) => ({ id: i.sha256, bytes: i.sizeBytes })),
      });
    }
  }

  /** Starts the API at once (it answers 503 while recovering), then connects and recovers. */
  async start(): Promise<void> {
    await ensureDir(this.config.agent.console_log_dir);
    await this.images.cache.init();
    await this.volumes.init();
    const app = buildApp({
      vms: this.vms,
      ops: this.operations,
      reconciler: this.reconciler,
      conn: this.conn,
      log: this.log,
      hostId: this.hostId,
      version: VERSION,
      images: { ...this.images, snapshots: this.snapshots, saveAs: this.saveAs },
      volumes: this.volumes,
    });
    const { server, address } = await listen(app, this.config.api.listen);
    this.server = server;
    this.apiAddress = address;
    this.log.info({ api: address, version: VERSION, uri: this.conn.uri }, 'agent API listening');
    this.notify.ready(`API on ${address}; connecting to libvirt`);
    await this.connectWithRetry();
    await this.reconciler.start();
    this.mqtt?.start();
    this.notify.status(`running; API on ${address}`);
  }

  private async connectWithRetry(): Promise<void> {
    let delay = 500;
    for (;;) {
      try {
        await this.conn.open();
        return;
      } catch (err) {
        if (this.stopping) throw err;
        this.log.warn({ err: (err as Error).message, retryInMs: delay }, 'cannot connect to libvirt yet');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(10_000, delay * 2);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.notify.stopping();
    this.reconciler.stop();
    await this.mqtt?.stop();
    const server = this.server;
    if (server) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      server.closeAllConnections();
      await closed;
    }
    await this.conn.close();
    this.db.close();
    this.notify.close();
    this.log.info('agent stopped; domains left running');
  }
}
