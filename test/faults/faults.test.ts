// The fault-injection suite's CI run (issue 12): a fixed seed, a short stream of operations over two
// agents (create, delete, stop/start, volume attach/detach, snapshot) on a site whose MQTT broker is a
// mosquitto of its own, while agents, the controller, mosquitto, dnsmasq and tgtd are killed or frozen at
// seeded points; after quiescence, every invariant of one truth holds (test/faults/invariants.ts). The
// full length is `npm run bench -- faults`. A seed that once failed is a regression: keep it here.
// STRATUS_FAULTS_SEED=N replays another seed; STRATUS_FAULTS_BROKER=embedded runs on the controller's
// embedded broker (the CI seed until 2026-12-02 was 20261208 there).
import t from 'tap';
import type { BrokerKind } from './broker.ts';
import { countByKind } from './invariants.ts';
import { runFaults } from './run.ts';

// 20261268 draws (mosquitto): kill controller, kill dnsmasq, kill agent-a, freeze tgtd, kill mosquitto,
// kill agent-a
const SEED = Number(process.env['STRATUS_FAULTS_SEED'] ?? 20261268);
const BROKER: BrokerKind = process.env['STRATUS_FAULTS_BROKER'] === 'embedded' ? 'embedded' : 'mosquitto';

t.test(
  `seed ${SEED} (${BROKER} broker): 30 operations and 6 faults leave a site where every invariant holds`,
  async (t) => {
    const lines: string[] = [];
    const r = await runFaults({ seed: SEED, ops: 30, faults: 6, broker: BROKER, log: (l) => lines.push(l) });
    t.equal(r.faults, 6, 'every scheduled fault was injected');
    t.ok(r.vmsCreated > 0, 'VMs were created');
    t.same(
      countByKind(r.violations),
      {},
      `no violation; found:\n${r.violations.map((v) => `${v.kind}: ${v.detail}`).join('\n')}\n--- run:\n${lines.join('\n')}`,
    );
  },
);
