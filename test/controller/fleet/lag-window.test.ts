// tier: unit
// Ingest lag percentiles over 10 s windows: every message of a window counts (a uniform sample of them
// beyond the sample size), the figure is the last complete window's, and a quiet window keeps the last.
import t from 'tap';
import { LagWindow } from '../../../controller/fleet/lag-window.ts';

t.test('the p99 of the whole last window, not of its last messages', async (t) => {
  let now = 0;
  const w = new LagWindow(10_000, () => now);
  for (let i = 0; i < 1000; i++) {
    now = i * 9; // spread over 9 s
    w.add(i < 980 ? 10 : 5000); // 2 % slow ones (a GC pause, say) ...
  }
  t.equal(w.percentile(0.99), 5000, 'the current window until one is complete');
  now = 10_000;
  for (let i = 0; i < 5000; i++) w.add(20); // ... and a busy tail in the next window
  t.equal(w.percentile(0.99), 5000, 'the complete window is reported');
  t.equal(w.percentile(0.5), 10);
  now = 20_000;
  w.add(30);
  t.equal(w.percentile(0.99), 20, 'the next window once complete');
  now = 45_000;
  t.equal(w.percentile(0.99), 30, 'windows without messages keep the last figure');
});

t.test('beyond the sample size, a uniform sample of the window', async (t) => {
  let now = 0;
  const w = new LagWindow(10_000, () => now);
  for (let i = 0; i < 200_000; i++) w.add(i % 100); // 0..99 uniformly
  now = 10_000;
  const p50 = w.percentile(0.5);
  t.ok(p50 >= 45 && p50 <= 55, `p50 ${p50}`);
  t.ok(w.percentile(0.99) >= 97, 'p99');
});
