// tier: unit
// The scheduler's disk filter: a VM's writable disks (root, volatile, swap; controller/vms/vm-disks.ts)
// count against what its host has free for VM disks, VMs placed in the same batch and VMs already placed
// (scheduled, deploying, running, ...) are charged, a VM that fits nowhere waits with the disk reason, and
// a host that does not report its disk is not filtered. The service part runs on a real SQLite VM store.
import { EventEmitter } from 'node:events';
import t from 'tap';
import { openDatabase } from '../../../common/sqlite.ts';
import { reject } from '../../../controller/scheduler/filters.ts';
import { scheduleLinear } from '../../../controller/scheduler/linear-scan.ts';
import { schedule } from '../../../controller/scheduler/scheduler.ts';
import { DEFAULT_POLICY, type HostView, type VmRequest } from '../../../controller/scheduler/types.ts';
import type { Fleet, FleetHost } from '../../../controller/fleet/fleet-view.ts';
import { VmStore } from '../../../controller/vms/store.ts';
import { pendingVm, schedulerFor } from '../../helpers/vm-records.ts';
import { blankDisks, diskBytes } from '../../../controller/vms/vm-disks.ts';

const GiB = 1024 ** 3;
const host = (id: string, over: Partial<HostView> = {}): HostView => ({
  id,
  up: true,
  enabled: true,
  cluster: 'default',
  arch: 'x86_64',
  features: [],
  cpus: 64,
  memoryMiB: 1 << 20,
  usedVcpus: 0,
  usedMemoryMiB: 0,
  load: 0,
  cachedImages: new Set(),
  groups: new Set(),
  ...over,
});
const vm = (id: string, over: Partial<VmRequest> = {}): VmRequest => ({ id, vcpus: 1, memoryMiB: 256, ...over });
const reasonOf = (p: { hostId: string | null }) => (p as { reason?: string }).reason;

t.test('a VM whose disks fit no host waits with the disk reason, needed and free in GiB', async (t) => {
  const hosts = [host('h1', { diskBytes: 100 * GiB, usedDiskBytes: 90 * GiB })];
  for (const place of [schedule, scheduleLinear]) {
    const [p] = place([vm('big', { diskBytes: 20 * GiB })], hosts);
    t.equal(p!.hostId, null, `${place.name}: not placed`);
    t.equal(reasonOf(p!), 'no host fits: 1 host short of disk: needs 20 GiB, host has 10 GiB free');
  }
  const two = [host('h1', { diskBytes: 10 * GiB }), host('h2', { diskBytes: 15.5 * GiB })];
  t.equal(
    reasonOf(schedule([vm('big', { diskBytes: 20 * GiB })], two)[0]!),
    'no host fits: 2 hosts short of disk: needs 20 GiB, the roomiest has 15.5 GiB free',
  );
  t.same(reject(two[0]!, vm('big', { diskBytes: 20 * GiB }), DEFAULT_POLICY), {
    filter: 'disk',
    detail: 'disk: needs 20 GiB, host has 10 GiB free',
    freeBytes: 10 * GiB,
  });
  t.equal(schedule([vm('fits', { diskBytes: 15 * GiB })], two)[0]!.hostId, 'h2', 'the host with room takes it');
  t.equal(
    reject(host('h3', { diskBytes: 10.99 * GiB }), vm('odd', { diskBytes: 20 * GiB + 1 }), DEFAULT_POLICY)?.detail,
    'disk: needs 20.1 GiB, host has 10.9 GiB free',
    'needs round up, free rounds down',
  );
});

t.test('VMs placed in one batch are charged: the third 20 GiB VM on a 50 GiB host waits', async (t) => {
  const one = [host('h1', { diskBytes: 50 * GiB })];
  const vms = ['a', 'b', 'c'].map((id) => vm(id, { diskBytes: 20 * GiB }));
  for (const place of [schedule, scheduleLinear]) {
    const p = place(vms, one);
    t.same(
      p.map((x) => x.hostId),
      ['h1', 'h1', null],
      place.name,
    );
    t.match(reasonOf(p[2]!), /needs 20 GiB, host has 10 GiB free/);
  }
});

t.test('a host that does not report its disk is not filtered on disk', async (t) => {
  const [p] = schedule([vm('x', { diskBytes: 1000 * 1024 * GiB })], [host('old-agent')]);
  t.equal(p!.hostId, 'old-agent');
  t.equal(reject(host('old-agent'), vm('x', { diskBytes: 1e18 }), DEFAULT_POLICY), null);
});

t.test("a VM's disk bytes: root (--disk or the image's size), volatile disks and the type's swap", async (t) => {
  const rec = { diskGiB: 0, volatileGiB: [2, 3], swapMiB: 512 };
  t.equal(diskBytes(rec, 7 * GiB), 7 * GiB + 5 * GiB + 0.5 * GiB, 'root keeps the image size');
  t.equal(diskBytes({ ...rec, diskGiB: 10 }, 7 * GiB), 15.5 * GiB, '--disk replaces the image size');
  t.same(blankDisks(rec), [
    { blank: 'volatile', sizeMiB: 2048, serial: 'stratus-volatile-1' },
    { blank: 'volatile', sizeMiB: 3072, serial: 'stratus-volatile-2' },
    { blank: 'swap', sizeMiB: 512, serial: 'stratus-swap' },
  ]);
  t.same(blankDisks({ volatileGiB: [], swapMiB: 0 }), [], 'a type with swap 0 adds no disk');
});

t.test('the service counts placed VMs not yet running (scheduled, deploying) as used disk', async (t) => {
  const db = openDatabase(':memory:');
  const store = new VmStore(db);
  const mk = (name: string, volatileGiB: number[]) =>
    pendingVm(store, name, { diskGiB: 10, volatileGiB, swapMiB: 1024 });
  const fleetHost: FleetHost = {
    id: 'h1',
    up: true,
    cpus: 8,
    memoryMiB: 8192,
    arch: 'x86_64',
    diskBytes: 100 * GiB,
    load: 0,
    cachedImages: [],
  };
  const fleet = Object.assign(new EventEmitter(), { hosts: () => [fleetHost], host: () => fleetHost }) as Fleet;
  const { svc, placed: deployed } = schedulerFor(db, store, fleet, { diskBytes: (v) => diskBytes(v, 0) });
  const a = mk('a', [40]); // 10 + 40 + 1 = 51 GiB
  store.transition(a.id, 'scheduled', 'placed', { hostId: 'h1' });
  store.transition(a.id, 'deploying', 'sent');
  t.equal(svc.hostViews()[0]!.usedDiskBytes, 51 * GiB, 'a deploying VM holds its disks');
  const b = mk('b', [40]); // 51 GiB more: 102 > 100
  const c = mk('c', [30]); // 41 GiB: fits in the 49 left
  svc.kick();
  await new Promise((r) => setImmediate(r));
  t.same(deployed, [c.id], 'only the VM that fits in what is left is placed');
  t.equal(store.get(b.id).state, 'pending');
  t.equal(
    store.get(b.id).reason,
    'no host fits: 1 host short of disk: needs 51 GiB, host has 49 GiB free',
    'b was looked at before c was placed',
  );
  t.equal(svc.hostViews()[0]!.usedDiskBytes, 92 * GiB, 'the scheduled VM counts at once');
  store.transition(a.id, 'deleted', 'deleted');
  svc.kick();
  await new Promise((r) => setImmediate(r));
  t.same(deployed, [c.id, b.id], 'a deleted VM frees its disks');
  db.close();
});
