// DHCP with the real dnsmasq: clients in network namespaces plugged into the network's bridge get exactly
// their leased IPv4 (busybox udhcpc), DHCPv6 address (dhclient -6) and SLAAC address; unknown MACs get
// nothing; lease changes are batched into few reloads; a killed dnsmasq is restarted; a restarted (or
// crashed) controller serves the same leases.

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createLogger } from '../../../common/logger.ts';
import { type Db, openDatabase } from '../../../common/sqlite.ts';
import { DhcpSupervisor } from '../../../controller/network/dhcp-supervisor.ts';
import { IpamService } from '../../../controller/network/ipam.ts';
import { deleteBridge } from '../../../drivers/net-links.ts';
import { dhcp6, globalV6, nsClient, suffix, udhcpc } from '../../helpers/netns.ts';
import { waitFor } from '../../helpers/wait.ts';

const log = createLogger('test', process.env['STRATUS_TEST_LOG'] ?? 'silent');

interface Lab {
  dir: string;
  dbPath: string;
  db: Db;
  ipam: IpamService;
  dhcp: DhcpSupervisor;
  netId: string;
  bridge: string;
  octet: number;
}

function services(dbPath: string, dir: string) {
  const db = openDatabase(dbPath);
  const ipam = new IpamService(db, log);
  const dhcp = new DhcpSupervisor({ ipam, log, stateDir: join(dir, 'dhcp'), batchMs: 50 });
  return { db, ipam, dhcp };
}

async function lab(t: Test, v6: Record<string, unknown> = { rangeStart: '::100', rangeEnd: '::1ff' }): Promise<Lab> {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-dhcp-'));
  chmodSync(dir, 0o755); // dnsmasq reads its hosts file as nobody
  const s = suffix();
  const bridge = `stbr${s}`;
  const octet = 1 + Math.floor(Math.random() * 250);
  const p6 = `fd00:213:${octet.toString(16)}::`;
  const l = { dir, dbPath: join(dir, 'controller.db'), bridge, octet, ...services(join(dir, 'controller.db'), dir) };
  const { ipam, dhcp } = l;
  await dhcp.start();
  const net = ipam.createNetwork({
    name: `lab-${s}`,
    bridge,
    ipv4: { cidr: `10.213.${octet}.0/24`, gateway: `10.213.${octet}.1`, dns: [`10.213.${octet}.53`] },
    ipv6: {
      prefix: `${p6}/64`,
      ...Object.fromEntries(Object.entries(v6).map(([k, v]) => [k, typeof v === 'string' ? p6 + v.slice(2) : v])),
    },
  });
  const out = { ...l, netId: net.id };
  t.teardown(async () => {
    await out.dhcp.stop();
    if (out.db.open) out.db.close();
    await deleteBridge(bridge);
    rmSync(dir, { recursive: true, force: true });
  });
  await waitFor('dnsmasq running', () => out.dhcp.status(net.id)?.running, 10_000);
  return out;
}

async function client(t: Test, mac: string, bridge: string) {
  const c = await nsClient(mac, bridge);
  t.teardown(c.cleanup);
  return c;
}

t.test('leased MACs get exactly their IPv4, DHCPv6 and SLAAC addresses; an unknown MAC gets nothing', async (t) => {
  const l = await lab(t);
  const lease = l.ipam.allocate(l.netId, { vmId: randomUUID(), hostname: 'vm1' });
  await l.dhcp.flush(l.netId);
  const c = await client(t, lease.mac!, l.bridge);
  const v4 = await udhcpc(c);
  t.same(v4, { ip: lease.ipv4, mask: '24', router: `10.213.${l.octet}.1`, dns: `10.213.${l.octet}.53` });
  t.equal(await dhcp6(c), lease.ipv6, 'DHCPv6 hands out the leased address');
  const slaac = await waitFor(
    'SLAAC address',
    async () => (await globalV6(c)).find((a) => a === lease.ipv6Slaac),
    15_000,
  );
  t.equal(slaac, lease.ipv6Slaac, 'the kernel took the EUI-64 address the lease shows');

  const stranger = await client(t, '02:99:00:00:00:01', l.bridge);
  t.equal(await udhcpc(stranger, 2), null, 'unknown MAC: no IPv4');
  t.equal(await dhcp6(stranger, 4000), null, 'unknown MAC: no DHCPv6');
});

t.test('many lease changes at once are batched into few reloads; a released MAC is no longer served', async (t) => {
  const l = await lab(t);
  const before = l.dhcp.status(l.netId)!.reloads;
  const vms = Array.from({ length: 200 }, () => randomUUID());
  const leases = vms.map((vmId) => l.ipam.allocate(l.netId, { vmId }));
  await waitFor('batch flushed', async () => l.dhcp.status(l.netId)!.reloads > before, 5000);
  await new Promise((r) => setTimeout(r, 200));
  const reloads = l.dhcp.status(l.netId)!.reloads - before;
  t.ok(reloads >= 1 && reloads <= 3, `200 leases took ${reloads} reload(s)`);
  const last = leases.at(-1)!;
  const c = await client(t, last.mac!, l.bridge);
  t.equal((await udhcpc(c))?.ip, last.ipv4, 'the newest lease is served');
  l.ipam.releaseVm(vms.at(-1)!);
  await l.dhcp.flush(l.netId);
  const c2 = await client(t, last.mac!, l.bridge);
  t.equal(await udhcpc(c2, 2), null, 'released: no answer');
});

t.test('dnsmasq killed: restarted and serving again', async (t) => {
  const l = await lab(t);
  const lease = l.ipam.allocate(l.netId, { vmId: randomUUID() });
  const pid = l.dhcp.status(l.netId)!.pid!;
  process.kill(pid, 'SIGKILL');
  const st = await waitFor(
    'dnsmasq restarted',
    () => {
      const s = l.dhcp.status(l.netId);
      return s?.running && s.pid !== pid ? s : undefined;
    },
    10_000,
  );
  t.equal(st.restarts, 1);
  const c = await client(t, lease.mac!, l.bridge);
  t.equal((await udhcpc(c))?.ip, lease.ipv4, 'served by the new dnsmasq');
});

t.test('a network change (gateway, DNS) restarts its dnsmasq with the new options', async (t) => {
  const l = await lab(t);
  const lease = l.ipam.allocate(l.netId, { vmId: randomUUID() });
  const pid = l.dhcp.status(l.netId)!.pid;
  t.throws(
    () => l.ipam.updateNetwork(l.netId, { ipv4: { gateway: `10.213.${l.octet}.254` } }),
    /must differ from the gateway/,
  );
  l.ipam.updateNetwork(l.netId, { ipv4: { gateway: `10.213.${l.octet}.253`, dns: [`10.213.${l.octet}.9`] } });
  await waitFor('a new dnsmasq', () => {
    const st = l.dhcp.status(l.netId);
    return st?.running && st.pid !== pid;
  });
  const c = await client(t, lease.mac!, l.bridge);
  t.match(await udhcpc(c), { ip: lease.ipv4, router: `10.213.${l.octet}.253`, dns: `10.213.${l.octet}.9` });
  t.equal(l.ipam.getNetwork(l.netId).ipv4!.dhcpServer, `10.213.${l.octet}.254`, 'the server address stays as created');
});

t.test('controller restarted (cleanly, then after a crash): leases intact and served', async (t) => {
  const l = await lab(t, { slaac: false, rangeStart: '::100', rangeEnd: '::1ff' });
  const leases = [0, 1, 2].map(() => l.ipam.allocate(l.netId, { vmId: randomUUID() }));
  // clean restart
  await l.dhcp.stop();
  l.db.close();
  Object.assign(l, services(l.dbPath, l.dir));
  await l.dhcp.start();
  t.same(l.ipam.listLeases(l.netId), leases, 'leases intact after a restart');
  await waitFor('dnsmasq running', () => l.dhcp.status(l.netId)?.running, 10_000);
  const c = await client(t, leases[1]!.mac!, l.bridge);
  t.equal((await udhcpc(c))?.ip, leases[1]!.ipv4);
  t.equal(await dhcp6(c), leases[1]!.ipv6);
  // crash: the controller died and left its dnsmasq running (here: one started by hand with its config)
  await l.dhcp.stop();
  l.db.close();
  const conf = join(l.dir, 'dhcp', l.netId, 'dnsmasq.conf');
  const orphan = spawn('dnsmasq', ['--keep-in-foreground', `--conf-file=${conf}`], { stdio: 'ignore' });
  const pidFile = join(l.dir, 'dhcp', l.netId, 'dnsmasq.pid');
  await waitFor('orphan pid file', () => readFileSync(pidFile, 'utf8').trim() === String(orphan.pid));
  Object.assign(l, services(l.dbPath, l.dir));
  await l.dhcp.start();
  await waitFor('dnsmasq running', () => l.dhcp.status(l.netId)?.running, 10_000);
  t.not(l.dhcp.status(l.netId)!.pid, orphan.pid);
  await waitFor('stale dnsmasq gone', () => orphan.exitCode !== null || orphan.signalCode !== null, 5000);
  t.pass('the stale dnsmasq was stopped');
  const c2 = await client(t, leases[2]!.mac!, l.bridge);
  t.equal((await udhcpc(c2))?.ip, leases[2]!.ipv4, 'served after the crash');
});
