// tier: unit
// Scheduling passes after a costly one (≥ 10 ms on the service's clock, here a fake one) wait as long
// as it took, and every kick meanwhile is batched into that next pass; cheap passes run at the next
// turn of the event loop as before. Without it, 50 clients creating VMs one request per loop turn each
// paid a whole pass over 10,000 hosts (bench api-load).
import { EventEmitter } from 'node:events';
import t from 'tap';
import { openDatabase } from '../../../common/sqlite.ts';
import type { Fleet, FleetHost } from '../../../controller/fleet/fleet-view.ts';
import { VmStore } from '../../../controller/vms/store.ts';
import { pendingVm, schedulerFor } from '../../helpers/vm-records.ts';

t.test('kicks after a costly pass are batched into one pass', async (t) => {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  const store = new VmStore(db);
  let clock = 0;
  let passCost = 0; // what reading the hosts "takes" on the fake clock
  const h: FleetHost = { id: 'h1', up: true, cpus: 64, memoryMiB: 1 << 20, arch: 'x86_64', load: 0, cachedImages: [] };
  const fleet = Object.assign(new EventEmitter(), {
    hosts: () => {
      clock += passCost;
      return [h];
    },
    host: () => h,
  }) as unknown as Fleet;
  const { svc, placed } = schedulerFor(db, store, fleet, { now: () => clock });
  const create = (name: string) => pendingVm(store, name).id;
  const turn = () => new Promise((r) => setImmediate(r));
  const until = async (what: () => boolean) => {
    for (let i = 0; i < 5000 && !what(); i++) await new Promise((r) => setTimeout(r, 1));
  };

  create('cheap');
  svc.kick();
  await turn();
  t.equal(svc.passCount, 1, 'a cheap pass runs at the next turn');
  create('cheap-2');
  svc.kick();
  await turn();
  t.equal(svc.passCount, 2, 'and the next one too');

  passCost = 1500; // the next pass is costly: 1.5 s on the service's clock (a cool-down of 1.5 s)
  create('costly');
  svc.kick();
  await turn();
  t.equal(svc.passCount, 3);
  for (let i = 0; i < 5; i++) {
    create(`batched-${i}`);
    svc.kick();
    await turn();
  }
  t.equal(svc.passCount, 3, 'no pass during the cool-down');
  passCost = 0;
  await until(() => svc.passCount === 4);
  t.equal(svc.passCount, 4, 'one pass for the five kicks');
  t.equal(placed.length, 8, 'every VM placed');
  t.equal(store.list({ states: ['pending'] }).length, 0);
});
