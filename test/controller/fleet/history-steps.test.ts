// tier: unit
// The metrics history's steps: samples within a step are averaged into one point, a point is written
// once a later sample closes its step, series that stop reporting are closed by the sweep, and the
// step still open is readable (the dashboard shows it as the last point).
import t from 'tap';
import { HistorySteps } from '../../../controller/fleet/history-steps.ts';

const sample = (vm: string, ts: number, cpuPct: number) => ({
  host: 'h1',
  vm,
  ts,
  cpuPct,
  memBytes: cpuPct * 10,
  rxBps: 0,
  txBps: 1,
});

t.test('samples of one step make one averaged point, written when a later step begins', async (t) => {
  const s = new HistorySteps(60);
  const t0 = 1_800_000_000_000; // a whole minute
  for (let i = 0; i < 6; i++) s.add(sample('vm-a', t0 + i * 10_000, i % 2 ? 30 : 10));
  t.same(s.take(), [], 'nothing written while the step is open');
  t.same(s.current('h1', 'vm-a'), { ...sample('vm-a', t0, 20), memBytes: 200 }, 'the open step, averaged so far');
  s.add(sample('vm-a', t0 + 60_000, 50));
  t.same(s.take(), [{ ...sample('vm-a', t0, 20), memBytes: 200 }], 'one point for six samples');
  t.same(s.take(), [], 'taken once');
  t.equal(s.current('h1', 'vm-a')?.cpuPct, 50, 'the next step is open');
});

t.test('each host and VM has its own steps; the sweep closes the silent ones and, at the end, all', async (t) => {
  const s = new HistorySteps(10);
  const t0 = 1_800_000_000_000;
  s.add(sample('', t0, 5));
  s.add(sample('vm-a', t0, 7));
  s.add(sample('vm-a', t0 + 10_000, 9)); // closes vm-a's first step only
  t.same(
    s.take().map((p) => [p.vm, p.ts, p.cpuPct]),
    [['vm-a', t0, 7]],
  );
  t.same(s.sweep(t0 + 19_000), [], 'nothing stale yet');
  t.same(
    s.sweep(t0 + 25_000).map((p) => [p.vm, p.cpuPct]),
    [['', 5]],
    'the host silent for two steps is closed',
  );
  t.equal(s.size, 1);
  t.same(
    s.sweep(t0 + 30_001, true).map((p) => [p.vm, p.cpuPct]),
    [['vm-a', 9]],
    'at shutdown every open step is written',
  );
  t.equal(s.size, 0);
});

t.test('a sample from an earlier step (agent clock set back) closes the open step: nothing is lost', async (t) => {
  const s = new HistorySteps(60);
  const t0 = 1_800_000_000_000;
  s.add(sample('vm-a', t0 + 60_000, 10));
  s.add(sample('vm-a', t0, 20));
  t.same(
    s.take().map((p) => [p.ts, p.cpuPct]),
    [[t0 + 60_000, 10]],
  );
  t.equal(s.current('h1', 'vm-a')?.ts, t0);
});
