// tier: unit
// The controller's VM state machine, every pair of states: the matrix below is the specification (written
// here, not copied from states.ts), and each of its 81 cells is checked twice, by canTransition() and by
// VmStore.transition() on a real SQLite database (an allowed move updates the state and records one event;
// a refused one is a 409 STRATUS_ERR_VM_STATE that changes nothing). A state added to VM_STATES without a
// row and a column here fails the test.
import t from 'tap';
import { openDatabase } from '../../../common/sqlite.ts';
import {
  HOLDS_CAPACITY,
  InvalidTransitionError,
  VM_STATES,
  type VmState,
  canTransition,
} from '../../../controller/vms/states.ts';
import { VmStore } from '../../../controller/vms/store.ts';

// Y: allowed, -: refused, =: the same state (allowed: re-asserting a state only updates its reason).
const COLUMNS = [
  'pending',
  'scheduled',
  'deploying',
  'running',
  'stopped',
  'unknown',
  'failed',
  'lost',
  'deleted',
] as const;
// adoption (a host reports a VM the controller has as pending, scheduled, failed or lost) moves it to
// running or stopped; a VM its host no longer has becomes lost (controller/vms/reconciler.ts)
const MATRIX: Record<VmState, string> = {
  //          pend sche depl runn stop unkn fail lost dele
  pending: '   =    Y    -    Y    Y    -    Y    -    Y',
  scheduled: ' Y    =    Y    Y    Y    -    Y    -    Y',
  deploying: ' Y    -    =    Y    Y    Y    Y    Y    Y',
  running: '   -    -    -    =    Y    Y    Y    Y    Y',
  stopped: '   -    -    -    Y    =    Y    Y    Y    Y',
  unknown: '   -    -    -    Y    Y    =    Y    Y    Y',
  failed: '    -    -    -    Y    Y    -    =    -    Y',
  lost: '      -    -    -    Y    Y    -    Y    =    Y',
  deleted: '   -    -    -    -    -    -    -    -    =',
};

function expected(from: VmState, to: VmState): boolean {
  const cells = MATRIX[from].trim().split(/\s+/);
  const cell = cells[COLUMNS.indexOf(to as (typeof COLUMNS)[number])];
  if (cell === undefined || cells.length !== COLUMNS.length) throw new Error(`matrix row ${from} is malformed`);
  return cell !== '-';
}

t.test('the matrix covers exactly the states the controller knows', async (t) => {
  t.same([...VM_STATES].sort(), [...COLUMNS].sort(), 'VM_STATES = the columns');
  t.same(Object.keys(MATRIX).sort(), [...COLUMNS].sort(), 'VM_STATES = the rows');
});

t.test('canTransition: every allowed and every refused pair', async (t) => {
  let allowed = 0;
  for (const from of VM_STATES) {
    for (const to of VM_STATES) {
      const want = expected(from, to);
      if (want) allowed++;
      t.equal(canTransition(from, to), want, `${from} → ${to} ${want ? 'allowed' : 'refused'}`);
    }
  }
  t.equal(allowed, 9 + 40, 'nine self-transitions and 40 moves between states');
});

t.test('the shape of the machine: deleted is terminal and reachable from everywhere', async (t) => {
  for (const s of VM_STATES) {
    t.ok(canTransition(s, 'deleted'), `${s} can be deleted`);
    if (s !== 'deleted') t.notOk(canTransition('deleted', s), `deleted never goes back to ${s}`);
    if (!['failed', 'deleted', 'running', 'stopped'].includes(s))
      t.notOk(canTransition('failed', s), `failed goes only to deleted or, adopted, to running/stopped, not ${s}`);
  }
  // every state is reachable from pending (nothing is dead code)
  const seen = new Set<VmState>(['pending']);
  for (let grew = true; grew; ) {
    grew = false;
    for (const from of [...seen])
      for (const to of VM_STATES)
        if (!seen.has(to) && canTransition(from, to)) {
          seen.add(to);
          grew = true;
        }
  }
  t.same([...seen].sort(), [...VM_STATES].sort(), 'every state is reachable from pending');
  t.same(
    [...HOLDS_CAPACITY].sort(),
    ['deploying', 'running', 'scheduled', 'stopped', 'unknown'],
    'placed VMs hold capacity; pending, failed and deleted do not',
  );
});

t.test(
  'VmStore.transition enforces the same matrix: allowed moves are recorded, refused ones change nothing',
  async (t) => {
    const db = openDatabase(':memory:');
    t.teardown(() => db.close());
    const store = new VmStore(db);
    const quota = { vms: 1000, vcpus: 1000, memoryMiB: 1_000_000 };
    // a shortest allowed path from pending to each state, found in the matrix
    const pathTo = new Map<VmState, VmState[]>([['pending', []]]);
    for (let frontier: VmState[] = ['pending']; frontier.length; ) {
      const next: VmState[] = [];
      for (const from of frontier)
        for (const to of VM_STATES)
          if (!pathTo.has(to) && expected(from, to)) {
            pathTo.set(to, [...pathTo.get(from)!, to]);
            next.push(to);
          }
      frontier = next;
    }
    const vmIn = (state: VmState) => {
      const [vm] = store.createMany(
        {
          name: `sm-${state}`,
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
        quota,
      );
      for (const s of pathTo.get(state)!) store.transition(vm!.id, s, `setup: to ${s}`, { hostId: 'h1' });
      t.equal(store.get(vm!.id).state, state, `setup reached ${state}`);
      return vm!.id;
    };
    for (const from of VM_STATES) {
      for (const to of VM_STATES) {
        const id = vmIn(from);
        const before = store.events(id).length;
        if (expected(from, to)) {
          const vm = store.transition(id, to, 'the test says so');
          t.equal(vm.state, to, `${from} → ${to}: state updated`);
          t.equal(vm.reason, 'the test says so', `${from} → ${to}: reason recorded`);
          const events = store.events(id);
          t.equal(events.length, before + 1, `${from} → ${to}: one event`);
          t.match(events.at(-1), { from, to, reason: 'the test says so' });
        } else {
          const err = (() => {
            try {
              store.transition(id, to, 'must not happen');
            } catch (e) {
              return e;
            }
            return undefined;
          })();
          t.ok(err instanceof InvalidTransitionError, `${from} → ${to}: refused`);
          t.match(err, { code: 'STRATUS_ERR_VM_STATE', status: 409, details: { id, from, to } });
          t.equal(store.get(id).state, from, `${from} → ${to}: state unchanged`);
          t.equal(store.events(id).length, before, `${from} → ${to}: no event recorded`);
        }
      }
    }
  },
);
