// Hostile MQTT commands to a real agent (libvirt's test driver) over the controller's broker, a short
// seeded run of test/helpers/fuzz/mqtt.ts: every command of the protocol catalogue with arguments from its
// schema made hostile, wrong envelopes, truncated and non-JSON payloads, unknown commands. The agent keeps
// running, answers every well-formed command with a result that is never an internal error, and a failed
// command creates no VM. The full length is `npm run bench -- fuzz`.
import fc from 'fast-check';
import t from 'tap';
import { commandCatalogue, mqttCase, runMqttCases } from '../../helpers/fuzz/mqtt.ts';
import { startFuzzWorld } from '../../helpers/fuzz/world.ts';

const SEED = Number(process.env['STRATUS_FUZZ_SEED'] ?? 20261201);

t.test(`200 hostile commands over the broker (seed ${SEED})`, async (t) => {
  const w = await startFuzzWorld();
  t.teardown(() => w.cleanup());
  const hostId = `fuzz-${process.pid}`;
  const agent = await w.agent(hostId);
  const catalogue = commandCatalogue();
  t.ok(
    Object.keys(catalogue).length >= 17,
    `the catalogue names the agent's commands (${Object.keys(catalogue).join(', ')})`,
  );
  const cases = fc.sample(mqttCase(catalogue, [w.fx.vm]), { numRuns: 200, seed: SEED });
  t.same(
    [...new Set(cases.map((k) => k.command))].filter((c) => c in catalogue).sort(),
    Object.keys(catalogue).sort(),
    'every command of the catalogue is sent',
  );
  const s = await runMqttCases(
    { agent, hostId, mqttUrl: w.c.mqttUrl, account: w.commander(), controllerVm: w.controllerVm },
    cases,
  );
  t.comment(`outcomes ${JSON.stringify(s.outcomes)}; ${s.unanswered} still running at the timeout`);
  t.same(s.findings, [], 'no crash, no internal error, no VM created by a failed command');
  t.ok(s.outcomes['400 STRATUS_ERR_VALIDATION'], 'arguments are validated');
});
