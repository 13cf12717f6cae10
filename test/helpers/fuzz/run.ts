// One fuzzing session over a fresh fuzz world, shared by the tests (a short seeded run) and by
// `npm run bench -- fuzz` (20,000 cases and more): the authorization matrix, the REST fuzzer, the CLI
// fuzzer and the MQTT command fuzzer against an agent on libvirt's test driver, with one summary.
import fc from 'fast-check';
import { MATRIX } from '../../controller/api/authz-matrix.ts';
import { type Mismatch, runMatrix } from './authz.ts';
import { type CliStats, fuzzCli } from './cli.ts';
import { commandCatalogue, type MqttStats, mqttCase, runMqttCases } from './mqtt.ts';
import { fuzzRest, type RestStats } from './rest.ts';
import { startFuzzWorld } from './world.ts';

export interface FuzzPlan {
  rest: number;
  cli: number;
  mqtt: number;
  seed: number;
  log?: (line: string) => void;
}

export interface FuzzReport {
  summary: {
    bench: 'fuzz';
    cases: number;
    server_errors: number;
    crashes: number;
    created_by_invalid: number;
    authz_mismatches: number;
  };
  rest: RestStats & { operations: number };
  cli: CliStats;
  mqtt: MqttStats;
  matrix: { cells: number; mismatches: Mismatch[] };
  seconds: number;
}

export async function runFuzz(plan: FuzzPlan): Promise<FuzzReport> {
  const log = plan.log ?? (() => {});
  const t0 = Date.now();
  const w = await startFuzzWorld();
  try {
    const matrix = await runMatrix(w, MATRIX);
    log(`authorization matrix: ${matrix.cells} cells, ${matrix.mismatches.length} mismatches`);
    const hostId = `fuzz-${process.pid}-${Date.now().toString(36)}`;
    const agent = await w.agent(hostId);
    const mqttCases = fc.sample(mqttCase(commandCatalogue(), [w.fx.vm]), { numRuns: plan.mqtt, seed: plan.seed });
    const mqtt = await runMqttCases(
      { agent, hostId, mqttUrl: w.c.mqttUrl, account: w.commander(), controllerVm: w.controllerVm },
      mqttCases,
    );
    log(`MQTT: ${mqtt.cases} commands, outcomes ${JSON.stringify(mqtt.outcomes)}`);
    const rest = await fuzzRest(w, plan.rest, plan.seed, (s) =>
      log(`REST: ${s.cases} requests, statuses ${JSON.stringify(s.statuses)}`),
    );
    log(`REST: ${rest.cases} requests over ${rest.operations} operations, statuses ${JSON.stringify(rest.statuses)}`);
    const cli = await fuzzCli(w, plan.cli, plan.seed);
    log(`CLI: ${cli.cases} invocations, exit codes ${JSON.stringify(cli.exits)}`);
    return {
      summary: {
        bench: 'fuzz',
        cases: rest.cases + cli.cases + mqtt.cases + matrix.cells,
        server_errors: rest.server_errors + mqtt.server_errors,
        // the CLI "crashes" when it throws, exits with an undocumented code or fails without one readable line
        crashes: rest.crashes + mqtt.crashes + cli.crashes + cli.bad_exits + cli.unreadable,
        created_by_invalid: rest.created_by_invalid + mqtt.created_by_invalid + cli.created_by_invalid,
        authz_mismatches: matrix.mismatches.length,
      },
      rest,
      cli,
      mqtt,
      matrix,
      seconds: Math.round((Date.now() - t0) / 1000),
    };
  } finally {
    await w.cleanup();
  }
}
