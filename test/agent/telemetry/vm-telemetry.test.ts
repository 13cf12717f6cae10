// VM telemetry samples from bulk domain statistics: CPU percentages from consecutive CPU times, and a
// record without its CPU time (a domain busy with a job, read with NOWAIT) keeps the last base.
// tier: unit
import t from 'tap';
import { VmSampler } from '../../../agent/telemetry/vm-telemetry.ts';

const rec = (cpuNs?: number) => ({
  uuid: '11111111-2222-3333-4444-555555555555',
  name: 'stratus-x',
  params: { 'state.state': 1, ...(cpuNs === undefined ? {} : { 'cpu.time': cpuNs }) },
});

t.test('a sample without CPU time keeps the previous base: no spike in the next one', async (t) => {
  const s = new VmSampler();
  s.batch([rec(1e9)], 0);
  t.equal(s.batch([rec(1.5e9)], 1000)[0]!.cpuPct, 50, '0.5 s of CPU in 1 s: 50 %');
  t.equal(s.batch([rec()], 2000)[0]!.cpuPct, 0, 'busy domain: no CPU figure');
  t.equal(s.batch([rec(2.5e9)], 3000)[0]!.cpuPct, 50, 'measured from the last sample with a CPU time');
});
