// tier: unit
// One host's view (GET /v1/hosts/{id}) from the scheduler service: the same as that host's entry in
// the view of every host, computed from that host and its VMs only (it computed every host's view per
// call, and the host list did that once per host: quadratic, minutes of a blocked controller at
// 10,000 hosts; the list reads every host's admin settings in one query). Runs on a real SQLite VM store.
import { EventEmitter } from 'node:events';
import pino from 'pino';
import t from 'tap';
import { openDatabase } from '../../../common/sqlite.ts';
import type { Fleet, FleetHost } from '../../../controller/fleet/fleet-view.ts';
import { SchedulerService } from '../../../controller/scheduler/service.ts';
import { DEFAULT_POLICY } from '../../../controller/scheduler/types.ts';
import { HostAdminStore } from '../../../controller/vms/host-admin.ts';
import { VmStore } from '../../../controller/vms/store.ts';
import { pendingVm, schedulerFor } from '../../helpers/vm-records.ts';

t.test("one host's view equals its entry in every host's view, and reads no other host", async (t) => {
  const db = openDatabase(':memory:');
  const store = new VmStore(db);
  const fleetHost = (id: string, up: boolean): FleetHost => ({
    id,
    up,
    cpus: 8,
    memoryMiB: 8192,
    arch: 'x86_64',
    load: 0.25,
    cachedImages: ['img'],
  });
  const hosts = [fleetHost('h1', true), fleetHost('h2', false), fleetHost('h3', true)];
  let listed = 0;
  const fleet = Object.assign(new EventEmitter(), {
    hosts: () => {
      listed++;
      return hosts;
    },
    host: (id: string) => hosts.find((h) => h.id === id),
  }) as Fleet;
  const hostAdmin = new HostAdminStore(db);
  hostAdmin.set('h2', { enabled: false, reason: 'disk swap', cluster: 'gpu', features: ['nvme'] });
  const svc = new SchedulerService({
    store,
    fleet,
    hostAdmin,
    policy: () => DEFAULT_POLICY,
    log: pino({ level: 'silent' }),
    deploy: () => undefined,
  });
  const place = (name: string, hostId: string, vcpus: number, group?: string) => {
    const v = pendingVm(store, name, {
      vcpus,
      memoryMiB: 512 * vcpus,
      placement: group ? { antiAffinityGroup: group } : {},
    });
    store.transition(v.id, 'scheduled', 'placed', { hostId });
    return v;
  };
  place('a', 'h1', 2, 'web');
  place('b', 'h1', 1);
  place('c', 'h3', 4);
  const gone = place('d', 'h3', 1);
  store.transition(gone.id, 'deleted', 'deleted');

  const all = svc.hostViews();
  t.equal(listed, 1);
  for (const h of hosts)
    t.same(
      svc.hostView(h.id),
      all.find((v) => v.id === h.id),
      h.id,
    );
  t.equal(listed, 1, 'one host is read alone, not from the list of every host');
  t.match(svc.hostView('h1'), { usedVcpus: 3, usedMemoryMiB: 1536, up: true });
  t.same([...svc.hostView('h1')!.groups], ['web']);
  t.match(svc.hostView('h3'), { usedVcpus: 4, usedMemoryMiB: 2048 }, 'a deleted VM holds nothing');
  t.match(svc.hostView('h2'), { usedVcpus: 0, up: false, enabled: false, cluster: 'gpu', features: ['nvme'] });
  t.match(
    all.find((v) => v.id === 'h2'),
    { enabled: false, cluster: 'gpu', features: ['nvme'] },
    'settings in the list',
  );
  t.match(svc.hostView('h1'), { enabled: true, cluster: 'default', features: [] }, 'a host without settings');
  t.equal(svc.hostView('nope'), undefined, 'an unknown host has no view');
  db.close();
});

t.test('a pass reads in full only the hosts that are up; the others are counted in the reasons', async (t) => {
  const db = openDatabase(':memory:');
  const store = new VmStore(db);
  const small: FleetHost = { id: 'h1', up: true, cpus: 1, memoryMiB: 1024, arch: 'x86_64', load: 0, cachedImages: [] };
  const fleet = Object.assign(new EventEmitter(), {
    hosts: (): FleetHost[] => {
      t.fail('a pass must not read every host');
      return [];
    },
    host: (id: string) => (id === 'h1' ? small : undefined),
    hostsByState: () => ({ up: [small], down: ['h2', 'h3'] }),
  }) as Fleet;
  const { svc, placed } = schedulerFor(db, store, fleet);
  const vm = (name: string, vcpus: number) => pendingVm(store, name, { vcpus, memoryMiB: 512 });
  const fits = vm('fits', 1);
  const big = vm('big', 8);
  svc.kick();
  await new Promise((r) => setImmediate(r));
  t.same(placed, [fits.id], 'placed on the host that is up');
  t.match(store.find(big.id), {
    state: 'pending',
    reason:
      /2 hosts down or disabled.*1 host short of 8 free vCPUs|1 host short of 8 free vCPUs.*2 hosts down or disabled/,
  });
  db.close();
});
