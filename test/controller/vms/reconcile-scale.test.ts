// tier: unit
// The reconciler at fleet scale: a host coming up (or sending a complete inventory) settles that host's
// copies only (it scanned every VM of the fleet per host event: quadratic, minutes for 10,000 hosts
// connecting), and the periodic pass settles every copy over several turns of the event loop (all at
// once held the controller, its broker and ingest, for seconds at 100,000 VMs), one pass at a time.
import { EventEmitter } from 'node:events';
import t from 'tap';
import { pino } from 'pino';
import { openDatabase } from '../../../common/sqlite.ts';
import type { Fleet, FleetHost } from '../../../controller/fleet/fleet-view.ts';
import type { CommandDispatcher } from '../../../controller/mqtt/command-dispatcher.ts';
import type { Deployer } from '../../../controller/vms/deployer.ts';
import { Reconciler } from '../../../controller/vms/reconciler.ts';
import { VmStore } from '../../../controller/vms/store.ts';

function setup(t: { teardown: (f: () => void) => void }) {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  const store = new VmStore(db);
  const looked: string[] = [];
  const find = store.find.bind(store);
  store.find = (id: string) => {
    looked.push(id);
    return find(id);
  };
  const host = (id: string): FleetHost => ({
    id,
    up: true,
    session: 1,
    cpus: 2,
    memoryMiB: 4096,
    arch: 'x86_64',
    load: 0,
    cachedImages: [],
  });
  const fleet = Object.assign(new EventEmitter(), { hosts: () => [], host }) as unknown as Fleet;
  let kicks = 0;
  const reconciler = new Reconciler({
    store,
    fleet,
    dispatcher: { hostReturned: () => undefined } as unknown as CommandDispatcher,
    deployer: { isDeploying: () => false, hostReturned: () => undefined } as unknown as Deployer,
    log: pino({ level: 'silent' }),
    kick: () => kicks++,
    actionTimeoutMs: 1000,
    intervalMs: 3_600_000,
  });
  t.teardown(() => reconciler.stop());
  return { fleet, reconciler, looked, host, kicks: () => kicks };
}

/** Turns of the event loop until `n` lookups are made (at most 100 turns). */
async function settled(looked: string[], n: number) {
  for (let i = 0; i < 100 && looked.length < n; i++) await new Promise((r) => setImmediate(r));
}

t.test("a host event settles that host's copies only", async (t) => {
  const { fleet, looked, host } = setup(t);
  // VMs this controller has no record of, reported by three hosts (settling one looks it up)
  for (const h of ['h1', 'h2', 'h3'])
    for (let i = 0; i < 50; i++) fleet.emit('vm-state', { host: h, vm: `${h}-vm${i}`, state: 'running' });
  fleet.emit('vm-state', { host: 'h2', vm: 'h2-vm0', state: 'missing' }); // gone from h2
  looked.length = 0;
  fleet.emit('host', host('h2'));
  t.equal(looked.length, 49, 'the 49 copies h2 still has');
  t.ok(
    looked.every((id) => id.startsWith('h2-') && id !== 'h2-vm0'),
    'no other host',
  );
  looked.length = 0;
  fleet.emit('inventory', {
    host: 'h3',
    complete: true,
    vms: [{ vm: 'h3-vm1', state: 'running', busy: false }],
    unclaimed: [],
  });
  t.same(looked, ['h3-vm1'], 'a complete inventory settles what it lists');
  looked.length = 0;
  fleet.emit('host', host('h3'));
  t.same(looked, ['h3-vm1'], 'the copies it no longer lists are gone');
});

t.test('the periodic pass settles every copy over several turns, one pass at a time', async (t) => {
  const { fleet, reconciler, looked, kicks } = setup(t);
  for (let i = 0; i < 5000; i++) fleet.emit('vm-state', { host: `h${i % 100}`, vm: `vm${i}`, state: 'running' });
  looked.length = 0;
  reconciler.pass();
  t.ok(looked.length > 0 && looked.length < 5000, `a part at once (${looked.length})`);
  reconciler.pass(); // while the first still settles: nothing more
  await settled(looked, 5000);
  t.equal(looked.length, 5000, 'every copy once');
  t.equal(new Set(looked).size, 5000);
  t.equal(kicks(), 1, 'the scheduler is kicked when the pass ends');
  looked.length = 0;
  reconciler.pass();
  await settled(looked, 5000);
  t.equal(looked.length, 5000, 'the next pass starts afresh');
});
