// Runs one dnsmasq per network on the network node and keeps it in step with the leases: the network's
// bridge (and uplink) is made if missing and given the DHCP server's addresses; config and hosts file are
// written atomically; lease changes are batched (one hosts rewrite + SIGHUP per `batchMs`, however many
// leases changed); a network change restarts its dnsmasq; a dnsmasq that dies is restarted with backoff.

import { join } from 'node:path';
import type { Logger } from 'pino';
import { formatIpv4, formatIpv6 } from '../../common/ip.ts';
import { KeyedMutex } from '../../common/keyed-mutex.ts';
import { DnsmasqProcess, killStale, notWorldTraversable, removeDir, writeFileAtomic } from '../../drivers/dnsmasq.ts';
import { deleteBridge, ensureAddress, ensureBridge } from '../../drivers/net-links.ts';
import { type DnsmasqPaths, needsDhcp, renderConfig, renderHosts } from './dnsmasq-config.ts';
import type { IpamService } from './ipam.ts';

export interface DhcpSupervisorOptions {
  ipam: IpamService;
  log: Logger;
  /**
   * Directory for each network's dnsmasq files (`<stateDir>/<network id>/`). dnsmasq reads them after
   * dropping privileges, so the path must be traversable and the files readable by others.
   */
  stateDir: string;
  /** Lease changes within this window share one hosts rewrite and SIGHUP. */
  batchMs?: number;
  /** Make the bridge and put the DHCP server addresses on it (default true). */
  manageLinks?: boolean;
  binary?: string;
}

export interface DhcpStatus {
  network: string;
  running: boolean;
  pid: number | null;
  restarts: number;
  reloads: number;
  lastError: string | null;
}

interface Instance {
  id: string;
  paths: DnsmasqPaths;
  proc: DnsmasqProcess | undefined;
  timer: NodeJS.Timeout | undefined;
  dirty: boolean;
  stopping: boolean;
  restarts: number;
  reloads: number;
  backoffMs: number;
  startedAt: number;
  /** The bridge this supervisor made for the network (deleted with it); a bridge that was there stays. */
  madeBridge?: { name: string; uplink?: { device: string; vlan?: number | undefined } | undefined };
  lastError: string | null;
}

export class DhcpSupervisor {
  /** Network changes being applied (restart or teardown). */
  private readonly changes = new Set<Promise<void>>();
  private readonly instances = new Map<string, Instance>();
  private readonly locks = new KeyedMutex();
  private readonly batchMs: number;
  private stopped = false;

  constructor(private readonly o: DhcpSupervisorOptions) {
    this.batchMs = o.batchMs ?? 50;
  }

  /** Starts a dnsmasq for every network that needs one and follows IPAM changes from now on. */
  async start(): Promise<void> {
    const closed = await notWorldTraversable(this.o.stateDir);
    if (closed) {
      this.o.log.error(
        { dir: closed, dhcpDir: this.o.stateDir },
        'dnsmasq cannot reach its hosts files after dropping privileges: make this directory world-traversable or move [network] dhcp_dir',
      );
    }
    this.o.ipam.on('leases', (id) => this.schedule(id));
    this.o.ipam.on('network', (id, change) => {
      const run = (change === 'deleted' ? this.teardown(id) : this.restart(id)).catch((err) =>
        this.o.log.error({ network: id, err: (err as Error).message }, 'DHCP server change failed'),
      );
      // a stopping controller finishes these first (a deleted network's bridge is removed, not left)
      this.changes.add(run);
      void run.finally(() => this.changes.delete(run));
    });
    for (const n of this.o.ipam.listNetworks()) {
      await this.restart(n.id).catch((err) =>
        this.o.log.error({ network: n.id, err: (err as Error).message }, 'cannot start DHCP server'),
      );
    }
  }

  status(id: string): DhcpStatus | undefined {
    const i = this.instances.get(id);
    if (!i) return undefined;
    return {
      network: id,
      running: i.proc?.ready ?? false,
      pid: i.proc?.pid ?? null,
      restarts: i.restarts,
      reloads: i.reloads,
      lastError: i.lastError,
    };
  }

  private instance(id: string): Instance {
    let i = this.instances.get(id);
    if (!i) {
      const dir = join(this.o.stateDir, id);
      i = {
        id,
        paths: { conf: join(dir, 'dnsmasq.conf'), hosts: join(dir, 'hosts'), pid: join(dir, 'dnsmasq.pid') },
        proc: undefined,
        timer: undefined,
        dirty: false,
        stopping: false,
        restarts: 0,
        reloads: 0,
        backoffMs: 200,
        startedAt: 0,
        lastError: null,
      };
      this.instances.set(id, i);
    }
    return i;
  }

  /** (Re)writes everything for a network and (re)starts its dnsmasq. */
  restart(id: string): Promise<void> {
    return this.locks.run(id, async () => {
      if (this.stopped) return;
      const { r } = this.o.ipam.resolvedNetwork(id);
      const i = this.instance(id);
      await this.stopProc(i);
      if (!needsDhcp(r)) return;
      const d = r.def;
      if (this.o.manageLinks ?? true) {
        if (await ensureBridge(d.bridge, { uplink: d.uplink, mtu: d.mtu })) {
          i.madeBridge = { name: d.bridge, uplink: d.uplink };
        }
        if (r.v4) await ensureAddress(d.bridge, `${formatIpv4(r.v4.server)}/${r.v4.cidr.prefix}`);
        if (r.v6) await ensureAddress(d.bridge, `${formatIpv6(r.v6.server)}/${r.v6.prefix.prefix}`);
      }
      await writeFileAtomic(i.paths.conf, renderConfig(id, r, i.paths));
      i.dirty = false;
      await writeFileAtomic(i.paths.hosts, renderHosts(this.o.ipam.rows(id)));
      if (await killStale(i.paths.pid, i.paths.conf)) this.o.log.warn({ network: id }, 'stale dnsmasq stopped');
      await this.spawn(i, d.name);
    });
  }

  private async spawn(i: Instance, name: string): Promise<void> {
    const log = this.o.log.child({ network: i.id, networkName: name });
    const proc = new DnsmasqProcess(i.paths.conf, this.o.binary);
    i.proc = proc;
    i.stopping = false;
    proc.on('line', (line) => {
      if (/cannot read|failed|error/i.test(line)) {
        i.lastError = line;
        log.error(
          { dnsmasq: line, hint: `dnsmasq drops privileges: ${this.o.stateDir} must be readable by others` },
          'dnsmasq problem',
        );
      } else log.debug({ dnsmasq: line }, 'dnsmasq');
    });
    proc.on('exit', (code, signal) => {
      if (i.proc !== proc || i.stopping || this.stopped) return;
      i.restarts++;
      i.lastError = `dnsmasq exited (code ${code}, signal ${signal})`;
      if (Date.now() - i.startedAt > 10_000) i.backoffMs = 200;
      log.warn({ code, signal, retryInMs: i.backoffMs }, 'dnsmasq died; restarting');
      const delay = i.backoffMs;
      i.backoffMs = Math.min(10_000, i.backoffMs * 2);
      setTimeout(() => {
        if (i.proc === proc && !this.stopped) {
          this.restart(i.id).catch((err) => {
            i.lastError = (err as Error).message;
            log.error({ err: i.lastError }, 'dnsmasq restart failed');
          });
        }
      }, delay).unref();
    });
    try {
      await proc.start();
      i.startedAt = Date.now();
      log.info({ pid: proc.pid }, 'dnsmasq started');
    } catch (err) {
      i.lastError = (err as Error).message;
      throw err;
    }
    if (i.dirty) this.schedule(i.id); // leases changed while it was starting
  }

  private async stopProc(i: Instance): Promise<void> {
    clearTimeout(i.timer);
    i.timer = undefined;
    const p = i.proc;
    i.stopping = true;
    i.proc = undefined;
    if (p) await p.stop();
  }

  /** Marks a network's hosts file stale; one write + SIGHUP per batch window. */
  schedule(id: string): void {
    const i = this.instance(id);
    i.dirty = true;
    if (i.timer || this.stopped) return;
    i.timer = setTimeout(() => {
      i.timer = undefined;
      void this.flush(id);
    }, this.batchMs);
  }

  /** Writes the hosts file now if it is stale and signals dnsmasq; resolves when done. */
  flush(id: string): Promise<void> {
    return this.locks.run(id, async () => {
      const i = this.instances.get(id);
      if (!i?.dirty) return;
      i.dirty = false;
      try {
        await writeFileAtomic(i.paths.hosts, renderHosts(this.o.ipam.rows(id)));
        if (i.proc?.reload()) i.reloads++;
      } catch (err) {
        i.lastError = (err as Error).message;
        this.o.log.error({ network: id, err: i.lastError }, 'cannot update DHCP hosts');
      }
    });
  }

  private teardown(id: string): Promise<void> {
    return this.locks.run(id, async () => {
      const i = this.instances.get(id);
      if (!i) return;
      await this.stopProc(i);
      this.instances.delete(id);
      await removeDir(join(this.o.stateDir, id));
      if (i.madeBridge) {
        await deleteBridge(i.madeBridge.name, i.madeBridge.uplink).catch((err: Error) =>
          this.o.log.warn({ network: id, bridge: i.madeBridge?.name, err: err.message }, 'bridge not deleted'),
        );
      }
    });
  }

  /** Stops every dnsmasq (the controller is stopping). */
  async stop(): Promise<void> {
    await Promise.all([...this.changes]);
    this.stopped = true;
    await Promise.all([...this.instances.values()].map((i) => this.stopProc(i)));
  }
}
