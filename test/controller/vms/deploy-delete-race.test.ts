// tier: unit
// A VM deleted while its deploy hooks were still preparing (found by the fault-injection suite, seed 1:
// create then delete at once): the delete released the VM's hooks before the context hook had written
// the ISO, so the ISO stayed on the controller with no VM, and the deploy was still sent to the host.
// The deployer now looks again after the hooks: a VM deleted meanwhile gets its hooks released again
// and no deploy is sent.
import t from 'tap';
import { pino } from 'pino';
import { openDatabase } from '../../../common/sqlite.ts';
import type { CommandDispatcher } from '../../../controller/mqtt/command-dispatcher.ts';
import type { DeployHook } from '../../../controller/vms/deploy-hook.ts';
import { Deployer } from '../../../controller/vms/deployer.ts';
import type { SpecBuilder } from '../../../controller/vms/spec-builder.ts';
import { VmStore } from '../../../controller/vms/store.ts';

t.test('a VM deleted while its deploy hooks prepare: what they made is released, no deploy is sent', async (t) => {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  const store = new VmStore(db);
  const [vm] = store.createMany(
    {
      name: 'racer',
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
  store.transition(id, 'scheduled', 'placed', { hostId: 'h1' });

  // a hook that makes a file (the context ISO) after a pause the test controls
  const files = new Set<string>();
  let unblock!: () => void;
  const gate = new Promise<void>((r) => (unblock = r));
  let preparing!: () => void;
  const started = new Promise<void>((r) => (preparing = r));
  const hook: DeployHook = {
    name: 'context',
    prepare: async (v, _h, spec) => {
      preparing();
      await gate;
      files.add(v.id);
      return spec;
    },
    release: (v) => {
      files.delete(v.id);
    },
  };
  const sent: string[] = [];
  const dispatcher = {
    dispatch: async (host: string, command: string) => {
      sent.push(`${command}@${host}`);
      return { state: 'running' };
    },
  } as unknown as CommandDispatcher;
  const deployer = new Deployer({
    store,
    specs: {
      build: () => ({ id, name: 'racer', vcpus: 1, memoryMiB: 64, disks: [], cdroms: [], nics: [] }),
    } as unknown as SpecBuilder,
    dispatcher,
    hooks: [hook],
    log: pino({ level: 'silent' }),
    maxAttempts: 3,
    deployTimeoutMs: 10_000,
    hostExclusionMs: 1000,
    onRequeue: () => undefined,
    hostUp: () => true,
  });

  const deploying = deployer.deploy(id);
  await started;
  // the delete path (ControllerVmService.delete): hooks released, VM deleted, while prepare still runs
  await hook.release!(store.get(id));
  store.transition(id, 'deleted', 'deleted by alice');
  unblock();
  await deploying;

  t.same([...files], [], 'the file the hook made after the delete is removed');
  t.same(sent, [], 'no deploy is sent for a deleted VM');
  t.equal(store.get(id).state, 'deleted');
});
