// VM records and a scheduler service for tests of the scheduler and the VM store: one pending VM of
// user u1 (alice) with the given fields, created under a generous quota.
import pino from 'pino';
import type { Db } from '../../common/sqlite.ts';
import type { Fleet } from '../../controller/fleet/fleet-view.ts';
import { SchedulerService, type SchedulerServiceOptions } from '../../controller/scheduler/service.ts';
import { DEFAULT_POLICY } from '../../controller/scheduler/types.ts';
import { HostAdminStore } from '../../controller/vms/host-admin.ts';
import type { NewVm, VmRecord, VmStore } from '../../controller/vms/store.ts';

export const ROOMY_QUOTA = { vms: 100, vcpus: 100, memoryMiB: 1 << 20 };

export function pendingVm(store: VmStore, name: string, fields: Partial<NewVm> = {}): VmRecord {
  return store.createMany(
    {
      name,
      ownerId: 'u1',
      ownerName: 'alice',
      type: 't',
      vcpus: 1,
      memoryMiB: 64,
      diskGiB: 0,
      volatileGiB: [],
      swapMiB: 0,
      imageId: 'img',
      placement: {},
      nics: [],
      volumes: [],
      ...fields,
    },
    1,
    ROOMY_QUOTA,
  )[0]!;
}

/** A scheduler service over `store` and `fleet` with the default policy; `placed` lists what it deployed. */
export function schedulerFor(
  db: Db,
  store: VmStore,
  fleet: Fleet,
  extra: Partial<SchedulerServiceOptions> = {},
): { svc: SchedulerService; placed: string[] } {
  const placed: string[] = [];
  const svc = new SchedulerService({
    store,
    fleet,
    hostAdmin: new HostAdminStore(db),
    policy: () => DEFAULT_POLICY,
    log: pino({ level: 'silent' }),
    deploy: (id) => placed.push(id),
    ...extra,
  });
  return { svc, placed };
}
