// tier: unit
// A copy of a deleted VM that a host once reported, and that the host no longer has (a stale report):
// the reconciler asked the host to delete it, got "not found", and asked again on every pass and every
// report for as long as the controller ran (found by the fault-injection suite: the same delete sent
// every few seconds for minutes). A 404 from the host now settles the copy as gone.
import { EventEmitter } from 'node:events';
import t from 'tap';
import { pino } from 'pino';
import { NotFoundError } from '../../../common/errors.ts';
import { openDatabase } from '../../../common/sqlite.ts';
import type { Fleet } from '../../../controller/fleet/fleet-view.ts';
import type { CommandDispatcher } from '../../../controller/mqtt/command-dispatcher.ts';
import type { Deployer } from '../../../controller/vms/deployer.ts';
import { Reconciler } from '../../../controller/vms/reconciler.ts';
import { VmStore } from '../../../controller/vms/store.ts';

t.test('a host answering "not found" to the removal of an unwanted copy is not asked again', async (t) => {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  const store = new VmStore(db);
  const [vm] = store.createMany(
    {
      name: 'gone',
      ownerId: 'u1',
      ownerName: 'alice',
      type: 'm1.small',
      vcpus: 1,
      memoryMiB: 64,
      diskGiB: 1,
      imageId: 'img',
      placement: {},
      nics: [],
      volumes: [],
    },
    1,
    { vms: 10, vcpus: 10, memoryMiB: 10_000 },
  );
  const id = vm!.id;
  store.transition(id, 'deleted', 'deleted by alice');

  const fleet = Object.assign(new EventEmitter(), {
    hosts: () => [],
    host: (h: string) => ({ id: h, up: true, cpus: 2, memoryMiB: 4096, arch: 'x86_64', load: 0, images: [] }),
  }) as unknown as Fleet;
  const sent: string[] = [];
  const dispatcher = {
    dispatch: async (host: string, command: string, args: { vm: string }) => {
      sent.push(`${command} ${args.vm}@${host}`);
      throw new NotFoundError('VM', args.vm);
    },
  } as unknown as CommandDispatcher;
  const reconciler = new Reconciler({
    store,
    fleet,
    dispatcher,
    deployer: { isDeploying: () => false, hostReturned: () => undefined } as unknown as Deployer,
    log: pino({ level: 'silent' }),
    kick: () => undefined,
    actionTimeoutMs: 1000,
    intervalMs: 3_600_000,
  });
  t.teardown(() => reconciler.stop());

  fleet.emit('vm-state', { host: 'h1', vm: id, state: 'running' }); // the stale report
  await new Promise((r) => setImmediate(r));
  t.same(sent, [`delete ${id}@h1`], 'the unwanted copy is removed once');
  for (let i = 0; i < 3; i++) {
    reconciler.pass();
    await new Promise((r) => setImmediate(r));
  }
  t.same(sent, [`delete ${id}@h1`], 'a host that has no such VM is not asked again');
  t.same([...reconciler.copiesOf(id).keys()], [], 'the copy is known to be gone');
});
