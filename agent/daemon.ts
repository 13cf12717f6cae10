// Wires the agent together: configuration, database, libvirt connection, VM service, reconciler and the
// local API. Stopping the agent never touches running domains.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { createLogger } from '../common/logger.ts';
import { VERSION } from '../common/version.ts';
import { ensureDir, readOrCreateSecretFile, resolveRealPath } from '../drivers/host-fs.ts';
import { randomBytes } from 'node:crypto';
import { HostPathGuard } from '../common/host-paths.ts';
import { trustSiteCa } from '../drivers/http-fetch.ts';
import { LibvirtConnection } from '../drivers/libvirt/index.ts';
import { SystemdNotifier } from '../drivers/systemd-notify.ts';
import { buildApp, listen } from './api/server.ts';
import { ConfigError } from '../common/errors.ts';
import { isHostId } from '../protocol/mqtt/index.ts';
import { CommandRegistry } from './mqtt/commands.ts';
import { MqttAgent } from './mqtt/mqtt-agent.ts';
import { effectiveMqttConfig, readCredentials, type StoredCredentials, siteCaPath } from './enrolment/credentials.ts';
import { joinSite } from './enrolment/join.ts';
import type { AgentConfig } from './config.ts';
import { Reconciler } from './vm/reconciler.ts';
import { VmMigration } from './vm/migration.ts';
import { createImageStack, type ImageStack } from './images/stack.ts';
import { SaveAsService } from './images/save-as.ts';
import { SnapshotService } from './images/snapshots.ts';
import { OperationJournal } from './vm/journal.ts';
import { OperationRecovery, type RecoveryOptions } from './vm/recovery.ts';
import { SaveAsRecovery, SnapshotRecovery } from './images/image-recovery.ts';
import { VolumeRecovery } from './volumes/volume-recovery.ts';
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
  /** Journal of multi-step operations, settled by recovery after a crash. */
  readonly journal: OperationJournal;
  /** Image cache (inventory(), usage() for host reports), policy, instance disks, bundles. */
  readonly images: ImageStack;
  readonly volumes: VolumeAttacher;
  readonly snapshots: SnapshotService;
  readonly migration: VmMigration;
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
    const creds = readCredentials(config.agent.state_dir);
    this.hostId = config.agent.host_id || creds?.hostId || hostname();
    this.log = createLogger('stratus-agent', config.log.level, { host: this.hostId });
    this.conn = new LibvirtConnection({
      uri: config.libvirt.uri,
      workers: config.libvirt.workers,
      keepAliveIntervalS: config.libvirt.keepalive_interval_s,
      keepAliveCount: config.libvirt.keepalive_count,
    });
    this.conn.on('error', (err) => this.log.error({ err }, 'libvirt connection error'));
    this.db = new AgentStateDb(join(config.agent.state_dir, 'agent.db'));
    this.journal = new OperationJournal(this.db.db);
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
      journal: this.journal,
    });
    this.vms = new VmService({
      volumes: this.volumes,
      disks: this.images.disks,
      network: this.network,
      paths,
      conn: this.conn,
      db: this.db,
      journal: this.journal,
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
    const m = config.migration;
    this.migration = new VmMigration({
      conn: this.conn,
      db: this.db,
      vms: this.vms,
      log: this.log,
      hostId: this.hostId,
      disks: this.images.disks,
      network: this.network,
      settings: {
        peerUri: m.peer_uri || `qemu+tls://${this.hostId}/system`,
        migrateUri: `tcp://${m.address || this.hostId}`,
        downtimeMs: m.downtime_ms,
        bandwidthMiBs: m.bandwidth_mibs,
        autoConverge: m.auto_converge,
        timeoutMs: m.timeout_s * 1000,
      },
      refusal: async (id) => {
        const snaps = this.db.db.prepare('SELECT COUNT(*) AS n FROM vm_snapshots WHERE vm_id = ?').get(id) as {
          n: number;
        };
        if (snaps.n > 0)
          return `it has ${snaps.n} snapshot(s), which live inside its disks and are not migrated: delete them first`;
        return undefined;
      },
      volumes: this.volumes,
    });
    const event = (kind: string, severity: 'info' | 'warning' | 'error', message: string, vm: string, data: object) =>
      this.mqtt?.event(kind, severity, message, data, vm);
    this.reconciler = new Reconciler({
      incoming: () => this.migration.incomingSpecs(),
      network: this.network,
      conn: this.conn,
      db: this.db,
      vms: this.vms,
      log: this.log,
      intervalMs: config.agent.resync_interval_s * 1000,
      recovery: new OperationRecovery({
        conn: this.conn,
        db: this.db,
        journal: this.journal,
        vms: this.vms,
        log: this.log,
        migration: this.migration,
        event,
        settlers: this.settlers(),
      }),
      hostId: this.hostId,
      orphanGraceMs: config.agent.orphan_grace_s * 1000,
      event,
    });
    this.operations = createOperations({
      vms: this.vms,
      snapshots: this.snapshots,
      saveAs: this.saveAs,
      cache: this.images.cache,
      volumes: this.volumes,
      migration: this.migration,
      afterDelete: () => this.mqtt?.vmDeleted(),
    });
    this.commands.registerAll(this.operations);
    this.setupMqtt(creds);
  }

  /** Recovery of the journaled operations other than create and delete. */
  private settlers(): RecoveryOptions['settlers'] {
    const volumes = new VolumeRecovery({ conn: this.conn, journal: this.journal, volumes: this.volumes });
    const o = { conn: this.conn, journal: this.journal, snapshots: this.snapshots, cache: this.images.cache };
    return {
      attach: volumes,
      detach: volumes,
      snapshot: new SnapshotRecovery(o),
      'save-as': new SaveAsRecovery(o),
    };
  }

  /** The MQTT side, when a broker URL is configured or was given at join. */
  private setupMqtt(creds: StoredCredentials | undefined): void {
    const mqtt = effectiveMqttConfig(this.config, creds);
    if (!mqtt.url) return;
    if (creds && creds.hostId !== this.hostId) {
      throw new ConfigError(
        `the credentials in ${this.config.agent.state_dir} are for host "${creds.hostId}" but this agent is "${this.hostId}": set [agent] host_id`,
        { hostId: this.hostId, joined: creds.hostId },
      );
    }
    if (!isHostId(this.hostId)) {
      throw new ConfigError(`host id "${this.hostId}" cannot be an MQTT topic level: set [agent] host_id`, {
        hostId: this.hostId,
      });
    }
    if (creds) trustSiteCa(readFileSync(siteCaPath(this.config.agent.state_dir), 'utf8'));
    this.mqtt = new MqttAgent({
      config: { ...this.config, mqtt },
      hostId: this.hostId,
      conn: this.conn,
      db: this.db,
      vms: this.vms,
      registry: this.commands,
      reconciler: this.reconciler,
      log: this.log,
      images: async () => this.images.cache.inventory().map((i) => ({ id: i.sha256, bytes: i.sizeBytes })),
      disk: () => this.images.disks.capacity(),
    });
  }

  /** First start of a packaged host: [join] url and token, and no credentials stored yet. */
  private async joinIfAsked(): Promise<void> {
    const j = this.config.join;
    if (!j.token || this.mqtt || readCredentials(this.config.agent.state_dir)) return;
    if (!j.url) throw new ConfigError('[join] token is set but [join] url is empty');
    const creds = await joinSite({
      url: j.url,
      token: j.token,
      hostId: this.hostId,
      stateDir: this.config.agent.state_dir,
    });
    this.log.info({ controller: j.url, mqtt: creds.mqtt.url }, 'joined the site: credentials stored');
    this.setupMqtt(creds);
  }

  /** Starts the API at once (it answers 503 while recovering), then connects and recovers. */
  async start(): Promise<void> {
    await ensureDir(this.config.agent.console_log_dir);
    await this.joinIfAsked();
    await this.images.cache.init();
    await this.volumes.init();
    const tcp = !this.config.api.listen.startsWith('unix:');
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
      ...(tcp ? { token: this.apiToken() } : {}),
    });
    const { server, address } = await listen(app, this.config.api.listen, {
      group: this.config.api.socket_group,
      log: this.log,
    });
    this.server = server;
    this.apiAddress = address;
    this.log.info({ api: address, version: VERSION, uri: this.conn.uri }, 'agent API listening');
    this.notify.ready(`API on ${address}; connecting to libvirt`);
    await this.connectWithRetry();
    await this.migration.recover();
    await this.reconciler.start();
    this.migration.startWatch();
    this.mqtt?.start();
    this.notify.status(`running; API on ${address}`);
  }

  /** The TCP API's bearer token: [api] token_file (0600, enforced), generated at the first start. */
  private apiToken(): string {
    const path = this.config.api.token_file || join(this.config.agent.state_dir, 'api.token');
    const token = readOrCreateSecretFile(path, () => `sta_${randomBytes(24).toString('base64url')}`);
    this.log.info({ path }, 'TCP API: requests need the bearer token of this file');
    return token;
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
    // no new command from here on (they stay with the broker); those running finish while libvirt is up
    await this.mqtt?.quiesce(Math.min(30_000, this.config.libvirt.shutdown_timeout_s * 1000));
    this.reconciler.stop();
    this.migration.stopWatch();
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
