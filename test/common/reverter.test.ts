// tier: unit
import t from 'tap';
import { Reverter, withReverter } from '../../common/reverter.ts';

t.test('a failure at step 4 undoes steps 1 to 3, newest first', async (t) => {
  const undone: number[] = [];
  const err = await withReverter(async (r) => {
    for (const i of [1, 2, 3]) r.add(`step ${i}`, () => undone.push(i));
    throw new Error('step 4 failed');
  }).catch((e) => e);
  t.equal(err.message, 'step 4 failed', 'the original error is rethrown');
  t.same(undone, [3, 2, 1]);
});

t.test('success keeps every step', async (t) => {
  const undone: number[] = [];
  const result = await withReverter(async (r) => {
    r.add('x', () => undone.push(1));
    return 'ok';
  });
  t.equal(result, 'ok');
  t.same(undone, []);
});

t.test('undo failures are collected and the remaining steps still run', async (t) => {
  const r = new Reverter();
  const undone: string[] = [];
  r.add('a', () => undone.push('a'));
  r.add('b', () => {
    throw new Error('b cannot be undone');
  });
  r.add('c', async () => undone.push('c'));
  const failures = await r.revert();
  t.same(undone, ['c', 'a']);
  t.equal(failures.length, 1);
  t.equal(failures[0]!.what, 'b');
});
