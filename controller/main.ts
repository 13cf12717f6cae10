// `stratus-controller` command line: --config, --version, --help; runs the daemon until SIGTERM/SIGINT.

import { runDaemonCli } from '../common/daemon-cli.ts';
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

runDaemonCli({
  name: 'stratus-controller',
  help: HELP,
  defaultConfigPath: DEFAULT_CONTROLLER_CONFIG_PATH,
  configEnv: 'STRATUS_CONTROLLER_CONFIG',
  loadConfig: loadControllerConfig,
  create: (config) => new ControllerDaemon(config),
  subcommand: {
    word: 'mqtt',
    help: MQTT_HELP,
    run: (config, args) => runMqttCli(config, args, (s) => process.stdout.write(s)),
  },
});
