// tier: unit
// TurnQueue runs at most perTurn jobs per turn of the event loop, in order; other callbacks (I/O, timers)
// run between the turns; a job that throws does not drop the others.
import t from 'tap';
import { TurnQueue } from '../../common/turn-queue.ts';

const turn = () => new Promise((r) => setImmediate(r));

t.test('five jobs at two per turn take three turns, in order, with other work between', async (t) => {
  const q = new TurnQueue(2);
  const ran: string[] = [];
  for (const n of [1, 2, 3, 4, 5]) q.push(() => ran.push(`job${n}`));
  t.same(ran, [], 'nothing runs in the turn that queued them');
  t.equal(q.length, 5);
  await turn();
  ran.push('other');
  await turn();
  ran.push('other');
  await turn();
  t.same(ran, ['job1', 'job2', 'other', 'job3', 'job4', 'other', 'job5']);
  t.equal(q.length, 0);
});

t.test('a job that throws does not drop the jobs after it', async (t) => {
  const q = new TurnQueue(8);
  const ran: number[] = [];
  q.push(() => ran.push(1));
  q.push(() => {
    throw new Error('boom');
  });
  q.push(() => ran.push(3));
  await turn();
  await turn();
  t.same(ran, [1, 3]);
});
