// `stratus-controller` command line: --config, --version, --help; runs the daemon until SIGTERM/SIGINT.

import { parseArgs } from 'node:util';
import { StratusError } from '../common/errors.ts';
import { VERSION } from '../common/version.ts';
import { DEFAULT_CONTROLLER_CONFIG_PATH, loadControllerConfig } from './config.ts';
import { ControllerDaemon } from './daemon.ts';
import { MQTT_HELP, runMqttCli } from './mqtt/admin-cli.ts';

const HELP = `Usage: stratus-controller [--config PATH] [mqtt COMMAND ...]

Runs the Stratus controller of a site: MQTT broker (embedded) or broker client, fleet state, REST API,
dashboard and Prometheus /metrics.

Options:
  -c, --config PATH   configuration file (default ${DEFAULT_CONTROLLER_CONFIG_PATH})
  -v, --version       print the version and exit
  -h, --help          print this help and exit

Environment variables STRATUS_CONTROLLER_<SECTION>_<KEY> override configuration keys,
for example STRATUS_CONTROLLER_MQTT_EMBEDDED=false or STRATUS_CONTROLLER_API_LISTEN=0.0.0.0:8480.
`;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const sub = argv.indexOf('mqtt');
  let args: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: sub >= 0 ? argv.slice(0, sub) : argv,
      options: {
        config: { type: 'string', short: 'c' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  }
  try {
    args = parse();
  } catch (err) {
    process.stderr.write(`stratus-controller: ${(err as Error).message}\n`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(`${HELP}\n${MQTT_HELP}`);
    return 0;
  }
  if (args.values.version) {
    process.stdout.write(`stratus-controller ${VERSION}\n`);
    return 0;
  }
  const config = loadControllerConfig(
    args.values.config ?? process.env['STRATUS_CONTROLLER_CONFIG'] ?? DEFAULT_CONTROLLER_CONFIG_PATH,
  );
  if (sub >= 0) return runMqttCli(config, argv.slice(sub + 1), (s) => process.stdout.write(s));
  const daemon = new ControllerDaemon(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    daemon.log.info({ signal }, 'stopping');
    daemon.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await daemon.start();
  return -1; // keep running
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    const msg = err instanceof StratusError ? `${err.message} (${err.code})` : String(err?.stack ?? err);
    process.stderr.write(`stratus-controller: ${msg}\n`);
    process.exit(1);
  },
);
