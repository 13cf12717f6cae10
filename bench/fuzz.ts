// `npm run bench -- fuzz [--cases N] [--seed S]`: the fuzzers of test/helpers/fuzz/ at full length
// against a real controller (REST over every operation of the OpenAPI document, the CLI in-process) and a
// real agent on libvirt's test driver (every MQTT command of the protocol catalogue), after the whole
// authorization matrix. N (default 20,000) is split 80 % REST, 15 % CLI, 5 % MQTT commands; the matrix's
// cells come on top. Ends with one JSON line:
//   {"bench":"fuzz","cases":..,"server_errors":0,"crashes":0,"created_by_invalid":0,"authz_mismatches":0}
// The short seeded variant runs in the test suite (test/controller/api/fuzz.test.ts, authz.test.ts,
// test/agent/mqtt/fuzz.test.ts).
import { parseArgs } from 'node:util';
import { runFuzz } from '../test/helpers/fuzz/run.ts';

const { values } = parseArgs({ options: { cases: { type: 'string' }, seed: { type: 'string' } } });
const n = Number(values.cases ?? 20_000);
const seed = Number(values.seed ?? Date.now() % 2 ** 31);
const log = (l: string) => process.stderr.write(`fuzz: ${l}\n`);
log(`seed ${seed}, ${n} cases`);
const r = await runFuzz({
  rest: Math.round(n * 0.8),
  cli: Math.round(n * 0.15),
  mqtt: Math.round(n * 0.05),
  seed,
  log,
});
const findings = [
  ...r.rest.findings.map((f) => ({ via: 'REST', ...f })),
  ...r.cli.findings.map((f) => ({ via: 'CLI', ...f })),
  ...r.mqtt.findings.map((f) => ({ via: 'MQTT', ...f })),
  ...r.matrix.mismatches.map((m) => ({ via: 'authz', ...m })),
];
for (const f of findings.slice(0, 50)) log(JSON.stringify(f));
log(
  `${r.summary.cases} cases in ${r.seconds} s: REST ${r.rest.cases} (${r.rest.operations} operations), CLI ${r.cli.cases}, ` +
    `MQTT ${r.mqtt.cases} (${r.mqtt.unanswered} unanswered in time), authorization cells ${r.matrix.cells}; REST statuses ` +
    `${JSON.stringify(r.rest.statuses)}; MQTT outcomes ${JSON.stringify(r.mqtt.outcomes)}; CLI exits ${JSON.stringify(r.cli.exits)}`,
);
console.log(JSON.stringify(r.summary));
process.exit(0);
