// The site the fault-injection suite runs on: a controller (its embedded MQTT broker, or a mosquitto of the
// site's own: broker.ts) with a network (its own dnsmasq) and iSCSI volumes on a private tgtd, two agents with distinct host ids on the system libvirtd
// (each touches only its own domains), the busybox test guest as image and a tiny instance type. Every
// component can be found by pid, killed and started again the same way, and everything is removed at the
// end (VMs, volumes, network, bridge, firewall tables, tgtd, directories).

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readStratusMetadata } from '../../agent/vm/domain-xml.ts';
import { deleteBridge } from '../../drivers/net-links.ts';
import { NftBridgeFirewall } from '../../drivers/nft.ts';
import { type AgentHandle, freePort, startAgent } from '../helpers/agent-process.ts';
import { uploadTestGuest } from '../helpers/cloud-images.ts';
import { type ControllerHandle, startController } from '../helpers/controller-process.ts';
import { startTgtd, type TgtdHandle } from '../helpers/tgtd.ts';
import { waitFor } from '../helpers/wait.ts';
import { type BrokerKind, type SiteBroker, startSiteBroker } from './broker.ts';

const run = promisify(execFile);

/** When set, the outputs of every controller and agent process of a run are kept there (debugging). */
const LOGS = process.env['STRATUS_FAULTS_LOGS'];
let logSeq = 0;
function keepLog(name: string, text: string): void {
  if (!LOGS) return;
  mkdirSync(LOGS, { recursive: true });
  writeFileSync(join(LOGS, `${String(++logSeq).padStart(3, '0')}-${name}.log`), text);
}

export interface SiteAgent {
  hostId: string;
  table: string;
  handle: AgentHandle;
}

export interface Site {
  tag: string;
  work: string;
  c: ControllerHandle;
  tgtd: TgtdHandle;
  /** The external broker (mosquitto), when the site runs on one. */
  broker?: SiteBroker;
  agents: SiteAgent[];
  network: { id: string; name: string; bridge: string };
  iqnPrefix: string;
  /** Starts the controller again on the same directory and ports (after a SIGKILL). */
  restartController: () => Promise<void>;
  /** Starts an agent again on its directory (after a SIGKILL). */
  restartAgent: (a: SiteAgent) => Promise<void>;
  /** The pid of the network's dnsmasq, if it runs. */
  dnsmasqPid: () => number | undefined;
  /** The network's dnsmasq hosts file (empty when absent). */
  dhcpHosts: () => string;
  cleanup: () => Promise<void>;
}

export const VM_TYPE = 'f1.tiny';

export async function startSite(opts: { agentResyncS?: number; broker?: BrokerKind } = {}): Promise<Site> {
  const tag = randomBytes(3).toString('hex');
  const work = mkdtempSync(join(tmpdir(), 'stratus-faults-'));
  chmodSync(work, 0o755); // dnsmasq reads its hosts file as nobody
  mkdirSync(join(work, 'dhcp'));
  const tgtd = await startTgtd();
  const iqnPrefix = `iqn.2024-01.org.stratus-faults.t${tag}`;
  const netName = `flt-${tag}`;
  const bridge = `stf${tag}`;
  const apiPort = await freePort();
  const mqttPort = await freePort();
  const controllerOpts = {
    dir: join(work, 'controller'),
    apiPort,
    mqttPort,
    scheduler: 'reconcile_interval_s = 3\nhost_exclusion_s = 5\naction_timeout_s = 30',
    extraToml: `[network]
dhcp_dir = "${work}/dhcp"
default_network = "${netName}"
context_flavour = "nocloud"
context_addressing = "dhcp"
[volumes]
iscsi_portal = "${tgtd.portal}"
iqn_prefix = "${iqnPrefix}"
tgt_control_port = ${tgtd.controlPort}
backing_dir = "${work}/volumes"
file_dir = "${work}/shared"
tgtd_check_interval_s = 2
`,
    agents: [] as AgentHandle[],
    mqtt: '',
  };
  mkdirSync(controllerOpts.dir, { recursive: true });
  let broker: SiteBroker | undefined;
  let c: ControllerHandle;
  try {
    if (opts.broker === 'mosquitto') {
      broker = await startSiteBroker(work, join(controllerOpts.dir, 'state'));
      controllerOpts.mqtt = broker.controllerMqtt;
    }
    c = await startController(controllerOpts);
  } catch (err) {
    await broker?.cleanup().catch(() => undefined);
    await tgtd.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  const site: Site = {
    tag,
    work,
    c,
    tgtd,
    ...(broker ? { broker } : {}),
    agents: [],
    network: { id: '', name: netName, bridge },
    iqnPrefix,
    restartController: async () => {
      await site.c.kill('SIGKILL');
      keepLog('controller', site.c.output());
      // the ports may linger for an instant after a SIGKILL: try again
      site.c = await waitFor('the controller to start again', () => startController(controllerOpts), 60_000, 500);
    },
    restartAgent: async (a) => {
      await a.handle.kill('SIGKILL');
      keepLog(a.hostId, a.handle.output());
      a.handle = await a.handle.restart();
      // generous: under a load of 20+ on 2 cores an agent was seen to need over a minute to connect
      await a.handle.waitReady(180_000);
    },
    dnsmasqPid: () => {
      try {
        const pid = Number(readFileSync(join(work, 'dhcp', site.network.id, 'dnsmasq.pid'), 'utf8').trim());
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('dnsmasq') ? pid : undefined;
      } catch {
        return undefined;
      }
    },
    dhcpHosts: () => {
      try {
        return readFileSync(join(work, 'dhcp', site.network.id, 'hosts'), 'utf8');
      } catch {
        return '';
      }
    },
    cleanup: async () => {
      await cleanupSite(site);
    },
  };
  try {
    const type = await site.c.request('POST', '/v1/types', { name: VM_TYPE, vcpus: 1, memoryMiB: 128, diskGiB: 0 });
    if (type.status !== 201) throw new Error(`instance type: ${type.status} ${JSON.stringify(type.body)}`);
    await uploadTestGuest(site.c, 'guest');
    const octet = 1 + Math.floor(Math.random() * 250);
    const net = await site.c.request('POST', '/v1/networks', {
      name: netName,
      bridge,
      ipv4: { cidr: `10.214.${octet}.0/24`, gateway: `10.214.${octet}.1` },
    });
    if (net.status !== 201) throw new Error(`network: ${net.status} ${JSON.stringify(net.body)}`);
    site.network.id = net.body.id;
    for (const h of ['a', 'b']) {
      const hostId = `flt${tag}-${h}`;
      const table = `stratus_f${tag}${h}`;
      const enrol = await site.c.request('POST', '/v1/hosts', { name: hostId });
      if (enrol.status !== 201) throw new Error(`enrol ${hostId}: ${enrol.status} ${JSON.stringify(enrol.body)}`);
      const handle = await startAgent({
        hostId,
        resyncS: opts.agentResyncS ?? 5,
        orphanGraceS: 10,
        // the test guest ignores ACPI: a graceful stop ends in the forced one after this (not 20 s, past
        // the client's deadline, so that a full run stays within its time)
        env: { STRATUS_AGENT_LIBVIRT_SHUTDOWN_TIMEOUT_S: '5' },
        dir: mkdtempSync(join(work, `agent-${h}-`)),
        extraToml: `[join]
url = "${site.c.url}"
token = "${enrol.body.token}"
[mqtt]
metrics_interval_s = 10
[network]
firewall_table = "${table}"
[volumes]
initiator_name = "iqn.2024-01.org.stratus-faults:${hostId}"
`,
      });
      await handle.waitReady(60_000);
      site.agents.push({ hostId, table, handle });
      // the host's broker account was made at its join: into mosquitto's files (as an operator does)
      site.broker?.refresh();
    }
    for (const a of site.agents) {
      await waitFor(
        `host ${a.hostId} up in the controller`,
        async () => (await site.c.request('GET', `/v1/hosts/${a.hostId}`)).body?.up === true,
        60_000,
        200,
      );
    }
  } catch (err) {
    await cleanupSite(site);
    throw err;
  }
  return site;
}

/** Stratus domains of the site's hosts on the system libvirtd: name, VM id, host id. */
export async function siteDomains(hostIds: readonly string[]): Promise<{ name: string; vm: string; host: string }[]> {
  const names = (await run('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name'])).stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((n) => n.startsWith('stratus-'));
  const out: { name: string; vm: string; host: string }[] = [];
  for (const name of names) {
    const xml = await run('virsh', ['-c', 'qemu:///system', 'dumpxml', name]).then(
      (r) => r.stdout,
      () => '',
    );
    const meta = readStratusMetadata(xml);
    if (meta && hostIds.includes(meta.host)) out.push({ name, vm: name.slice('stratus-'.length), host: meta.host });
  }
  return out;
}

async function cleanupSite(site: Site): Promise<void> {
  const c = site.c;
  const volumeIds = new Set<string>();
  const quiet = <T>(p: Promise<T>) => p.catch(() => undefined);
  if (c.proc.exitCode === null && c.proc.signalCode === null) {
    const vms = ((await quiet(c.request('GET', '/v1/vms')))?.body?.items ?? []) as { id: string }[];
    for (const v of vms) await quiet(c.request('DELETE', `/v1/vms/${v.id}`));
    const vols = ((await quiet(c.request('GET', '/v1/volumes')))?.body?.items ?? []) as { id: string }[];
    for (const v of vols) {
      volumeIds.add(v.id);
      await quiet(c.request('DELETE', `/v1/volumes/${v.id}`));
    }
    if (site.network.id) await quiet(c.request('DELETE', `/v1/networks/${site.network.id}`));
  }
  for (const a of site.agents) {
    a.handle.proc.kill('SIGCONT');
    await quiet(a.handle.cleanup());
  }
  c.proc.kill('SIGCONT');
  await quiet(c.kill('SIGTERM'));
  keepLog('controller', c.output());
  for (const a of site.agents) keepLog(a.hostId, a.handle.output());
  // whatever a bug left behind: domains of the site's hosts, firewall tables, the bridge
  for (const d of (await quiet(siteDomains(site.agents.map((a) => a.hostId)))) ?? []) {
    await quiet(run('virsh', ['-c', 'qemu:///system', 'destroy', d.name]));
    await quiet(run('virsh', ['-c', 'qemu:///system', 'undefine', d.name, '--snapshots-metadata', '--nvram']));
  }
  for (const a of site.agents) await quiet(new NftBridgeFirewall(a.table).deleteTable());
  const secrets = (await quiet(run('virsh', ['-c', 'qemu:///system', 'secret-list'])))?.stdout ?? '';
  for (const m of secrets.matchAll(/^\s*([0-9a-f-]{36})\s+iscsi\s+stratus-volume-([0-9a-f-]{36})-vm-/gm)) {
    if (volumeIds.has(m[2]!)) await quiet(run('virsh', ['-c', 'qemu:///system', 'secret-undefine', m[1]!]));
  }
  await quiet(deleteBridge(site.network.bridge));
  const pid = site.dnsmasqPid();
  if (pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  const tgtdPid = site.tgtd.pid();
  if (tgtdPid) process.kill(tgtdPid, 'SIGCONT');
  await quiet(site.tgtd.stop());
  if (site.broker) {
    keepLog('mosquitto', site.broker.output());
    await quiet(site.broker.cleanup());
  }
  rmSync(site.work, { recursive: true, force: true });
}
