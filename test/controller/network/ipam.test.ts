// tier: unit
// Address management on a real SQLite file: allocation, uniqueness under concurrency (100 requests at
// once through the REST routes, and several processes writing the same database), release with the VM,
// holds, exhaustion, restart, and bad input.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import express from 'express';
import t, { type Test } from 'tap';
import type { StratusError } from '../../../common/errors.ts';
import { problemHandler } from '../../../common/http-problem.ts';
import { createLogger } from '../../../common/logger.ts';
import { openDatabase } from '../../../common/sqlite.ts';
import { IpamService } from '../../../controller/network/ipam.ts';
import { networkRoutes } from '../../../controller/network/routes.ts';
import type { LeaseView } from '../../../protocol/network.ts';

const log = createLogger('test', 'silent');

/** The StratusError that `fn` throws (fails the test when it does not throw). */
function thrown(fn: () => unknown): StratusError {
  try {
    fn();
  } catch (err) {
    return err as StratusError;
  }
  throw new Error('expected an error');
}
const root = new URL('../../..', import.meta.url).pathname;

function fresh(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-ipam-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'controller.db');
  const db = openDatabase(path);
  t.teardown(() => db.open && db.close());
  return { dir, path, db, ipam: new IpamService(db, log) };
}

const net24 = {
  name: 'lab',
  bridge: 'brlab0',
  ipv4: { cidr: '10.213.0.0/24', gateway: '10.213.0.1', dns: ['10.213.0.53'] },
  ipv6: { prefix: 'fd00:213::/64', rangeStart: 'fd00:213::100', rangeEnd: 'fd00:213::1ff' },
};

t.test(
  'a lease gets a MAC from the prefix, an IPv4 in the range, a DHCPv6 address and its SLAAC address',
  async (t) => {
    const { ipam } = fresh(t);
    const n = ipam.createNetwork({ ...net24, macPrefix: '02:13:00' });
    t.equal(n.ipv4!.dhcpServer, '10.213.0.254', 'DHCP server defaults to the last host address');
    t.equal(n.ipv6!.dhcpServer, 'fd00:213::1');
    const vm = randomUUID();
    const l = ipam.allocate(n.id, { vmId: vm, hostname: 'web1' });
    t.match(l.mac, /^02:13:00(:[0-9a-f]{2}){3}$/);
    t.equal(l.ipv4, '10.213.0.2', 'first address after the gateway');
    t.equal(l.ipv6, 'fd00:213::100');
    const b = l.mac!.split(':').map((x) => Number.parseInt(x, 16));
    const iid = [((b[0]! ^ 2) << 8) | b[1]!, (b[2]! << 8) | 0xff, 0xfe00 | b[3]!, (b[4]! << 8) | b[5]!];
    t.equal(l.ipv6Slaac, `fd00:213::${iid.map((x) => x.toString(16)).join(':')}`, 'EUI-64 from the MAC');
    t.same(ipam.allocate(n.id, { vmId: vm, hostname: 'web1' }), l, 'a retry for the same NIC returns the same lease');
    t.equal(ipam.getNetwork('lab').usage.leases, 1, 'networks are found by name too');
  },
);

t.test(
  '100 concurrent creations through the REST routes get 100 distinct IPs and MACs; deleting releases all',
  async (t) => {
    const { ipam } = fresh(t);
    const app = express();
    app.use(express.json());
    app.use((_req, res, next) => {
      res.locals['principal'] = { id: 'admin', name: 'admin', role: 'admin' };
      next();
    });
    app.use('/v1', networkRoutes(ipam));
    app.use(problemHandler(log));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    t.teardown(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    const post = (path: string, body: unknown) =>
      fetch(base + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const created = await post('/networks', net24);
    t.equal(created.status, 201);
    const netId = ((await created.json()) as { id: string }).id;
    const vms = Array.from({ length: 100 }, () => randomUUID());
    const res = await Promise.all(vms.map((vmId) => post(`/networks/${netId}/leases`, { vmId })));
    t.same(new Set(res.map((r) => r.status)), new Set([201]));
    const leases = (await Promise.all(res.map((r) => r.json()))) as LeaseView[];
    t.equal(new Set(leases.map((l) => l.ipv4)).size, 100, '100 distinct IPv4');
    t.equal(new Set(leases.map((l) => l.ipv6)).size, 100, '100 distinct IPv6');
    t.equal(new Set(leases.map((l) => l.mac)).size, 100, '100 distinct MACs');
    t.notOk(
      leases.some((l) => l.ipv4 === '10.213.0.1' || l.ipv4 === '10.213.0.254'),
      'gateway and server never leased',
    );
    const list = (await (await fetch(`${base}/networks/${netId}/leases`)).json()) as { items: LeaseView[] };
    t.equal(list.items.length, 100, 'the lease list shows them');
    for (const vm of vms) ipam.releaseVm(vm);
    t.equal(ipam.listLeases(netId).length, 0, 'deleting the VMs released every lease');
    t.equal(ipam.getNetwork(netId).usage.ipv4Free, 252);
    const del = await fetch(`${base}/networks/${netId}`, { method: 'DELETE' });
    t.equal(del.status, 204);
  },
);

t.test('several processes allocating in the same database at once never share an address', async (t) => {
  const { ipam, path } = fresh(t);
  const n = ipam.createNetwork(net24);
  const run = promisify(execFile);
  const outs = await Promise.all(
    [0, 1, 2, 3].map(() =>
      run(process.execPath, ['--import=tsx', join(root, 'test/helpers/ipam-alloc-child.ts'), path, n.id, '30'], {
        cwd: root,
      }),
    ),
  );
  const leases = outs.flatMap((o) => JSON.parse(o.stdout) as LeaseView[]);
  t.equal(leases.length, 120);
  t.equal(new Set(leases.map((l) => l.ipv4)).size, 120, 'distinct IPv4 across processes');
  t.equal(new Set(leases.map((l) => l.mac)).size, 120, 'distinct MACs across processes');
  t.equal(ipam.listLeases(n.id).length, 120);
});

t.test('range exhaustion is a clear 409; a released address comes back', async (t) => {
  const { ipam } = fresh(t);
  const n = ipam.createNetwork({
    name: 'tiny',
    bridge: 'brtiny0',
    ipv4: { cidr: '10.213.1.0/29', gateway: '10.213.1.1' },
  });
  // .1 gateway, .6 server: .2 .3 .4 .5 are free
  const got = [0, 1, 2, 3].map(() => ipam.allocate(n.id, { vmId: randomUUID() }));
  t.same(
    got.map((l) => l.ipv4),
    ['10.213.1.2', '10.213.1.3', '10.213.1.4', '10.213.1.5'],
  );
  const err = thrown(() => ipam.allocate(n.id, { vmId: randomUUID() }));
  t.equal(err.code, 'STRATUS_ERR_RANGE_EXHAUSTED');
  t.equal(err.status, 409);
  t.match(err.message, /no free ipv4 address left in network tiny \(range 10\.213\.1\.1-10\.213\.1\.6\)/);
  ipam.release(got[1]!.id);
  t.equal(ipam.allocate(n.id, { vmId: randomUUID() }).ipv4, '10.213.1.3');
});

t.test(
  'held addresses are never leased; asking for one names the hold; a hold with a MAC is a reservation',
  async (t) => {
    const { ipam } = fresh(t);
    const n = ipam.createNetwork(net24);
    const h = ipam.hold(n.id, { ipv4: '10.213.0.2', note: 'printer' });
    t.equal(h.kind, 'hold');
    t.equal(ipam.allocate(n.id, { vmId: randomUUID() }).ipv4, '10.213.0.3', 'the held address is skipped');
    const err = thrown(() => ipam.allocate(n.id, { vmId: randomUUID(), ipv4: '10.213.0.2' }));
    t.equal(err.code, 'STRATUS_ERR_ADDRESS_IN_USE');
    t.match(err.message, /held \(printer\)/);
    t.throws(() => ipam.allocate(n.id, { vmId: randomUUID(), ipv4: '10.213.0.1' }), {
      code: 'STRATUS_ERR_ADDRESS_IN_USE',
    });
    const r = ipam.hold(n.id, { ipv4: '10.213.0.9', mac: '02:aa:00:00:00:09' });
    t.equal(r.mac, '02:aa:00:00:00:09');
    t.throws(() => ipam.allocate(n.id, { vmId: randomUUID(), mac: '02:aa:00:00:00:09' }), {
      code: 'STRATUS_ERR_ADDRESS_IN_USE',
    });
    t.same(
      ipam.listLeases(n.id, 'hold').map((l) => l.ipv4),
      ['10.213.0.2', '10.213.0.9'],
    );
    t.throws(() => ipam.deleteNetwork(n.id), { code: 'STRATUS_ERR_NETWORK_IN_USE' });
  },
);

t.test('a restarted controller finds its leases intact and continues after the last one', async (t) => {
  const { path, db, ipam } = fresh(t);
  const n = ipam.createNetwork(net24);
  const before = [0, 1, 2].map(() => ipam.allocate(n.id, { vmId: randomUUID() }));
  db.close();
  const db2 = openDatabase(path);
  t.teardown(() => db2.close());
  const again = new IpamService(db2, log);
  t.same(again.listLeases(n.id), before, 'same leases after reopening');
  const next = again.allocate(n.id, { vmId: randomUUID() });
  t.equal(next.ipv4, '10.213.0.5');
});

t.test('bad network definitions and lease requests are 400s naming the field', async (t) => {
  const { ipam } = fresh(t);
  const cases: [unknown, RegExp][] = [
    [{ ...net24, ipv4: { cidr: '10.213.0.1/24' } }, /host bits set/],
    [{ ...net24, ipv4: { cidr: '10.213.0.0/24', rangeStart: '10.213.1.5' } }, /rangeStart/],
    [{ ...net24, ipv4: { cidr: '10.213.0.0/24', rangeStart: '10.213.0.9', rangeEnd: '10.213.0.5' } }, /rangeEnd/],
    [{ ...net24, ipv6: { prefix: 'fd00:213::/56' } }, /must be a \/64 for SLAAC/],
    [{ ...net24, macPrefix: '01:00' }, /unicast/],
    [{ ...net24, bridge: 'a bridge name that is long' }, /\/bridge/],
  ];
  for (const [def, re] of cases) {
    const err = thrown(() => ipam.createNetwork(def));
    t.equal(err.status, 400);
    t.match(err.message, re);
  }
  const n = ipam.createNetwork(net24);
  t.throws(() => ipam.createNetwork({ ...net24, bridge: 'other0' }), { code: 'STRATUS_ERR_CONFLICT' });
  t.equal(thrown(() => ipam.allocate(n.id, { vmId: 'not-a-uuid' })).status, 400);
  t.equal(thrown(() => ipam.allocate(n.id, { vmId: randomUUID(), ipv4: '10.99.0.1' })).status, 400);
  t.throws(() => ipam.allocate('nope', { vmId: randomUUID() }), { code: 'STRATUS_ERR_NOT_FOUND' });
  t.equal(ipam.listLeases(n.id).length, 0, 'nothing half-made');
});

t.test('the leases of many VMs come in one call, by VM and in NIC order, as each VM alone gives them', async (t) => {
  const { ipam } = fresh(t);
  const a = ipam.createNetwork(net24);
  const b = ipam.createNetwork({ name: 'other', bridge: 'brlab1', ipv4: { cidr: '10.214.0.0/24' } });
  const [one, two, none] = [randomUUID(), randomUUID(), randomUUID()];
  ipam.allocate(b.id, { vmId: one, nicIndex: 1 });
  ipam.allocate(a.id, { vmId: one, nicIndex: 0 });
  ipam.allocate(a.id, { vmId: two, nicIndex: 0 });
  const many = ipam.leasesOfVms([one, two, none]);
  t.same([...many.keys()].sort(), [one, two].sort(), 'a VM without leases is absent');
  t.same(many.get(one), ipam.leasesOfVm(one));
  t.same(
    many.get(one)!.map((l) => l.nicIndex),
    [0, 1],
  );
  t.same(many.get(two), ipam.leasesOfVm(two));
  t.same(ipam.leasesOfVms([]).size, 0);
});
