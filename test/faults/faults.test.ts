// The fault-injection suite's CI run (issue 12): a fixed seed, a short stream of operations over two
// agents (create, delete, stop/start, volume attach/detach, snapshot) while agents, the controller with
// its embedded broker, dnsmasq and tgtd are killed or frozen at seeded points; after quiescence, every
// invariant of one truth holds (test/faults/invariants.ts). The full length is `npm run bench -- faults`.
// A seed that once failed is a regression: keep it here.
import t from 'tap';
import { countByKind } from './invariants.ts';
import { runFaults } from './run.ts';

// 20261208 draws: kill controller, kill tgtd, kill controller, kill agent-b, freeze dnsmasq, kill agent-a
const SEED = Number(process.env['STRATUS_FAULTS_SEED'] ?? 20261208);

t.test(`seed ${SEED}: 30 operations and 6 faults leave a site where every invariant holds`, async (t) => {
  const lines: string[] = [];
  const r = await runFaults({ seed: SEED, ops: 30, faults: 6, log: (l) => lines.push(l) });
  t.equal(r.faults, 6, 'every scheduled fault was injected');
  t.ok(r.vmsCreated > 0, 'VMs were created');
  t.same(
    countByKind(r.violations),
    {},
    `no violation; found:\n${r.violations.map((v) => `${v.kind}: ${v.detail}`).join('\n')}\n--- run:\n${lines.join('\n')}`,
  );
});
