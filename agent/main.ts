// `stratus-agent` command line: --config, --version, --help; runs the daemon until SIGTERM/SIGINT.

import { runDaemonCli } from '../common/daemon-cli.ts';
import { DEFAULT_AGENT_CONFIG_PATH, loadAgentConfig } from './config.ts';
import { AgentDaemon } from './daemon.ts';
import { JOIN_HELP, runJoinCli } from './enrolment/join-cli.ts';

const HELP = `Usage: stratus-agent [--config PATH] [join URL TOKEN]

Runs the Stratus node agent: manages this host's libvirt domains and serves a local API.

Options:
  -c, --config PATH   configuration file (default ${DEFAULT_AGENT_CONFIG_PATH})
  -v, --version       print the version and exit
  -h, --help          print this help and exit

Environment variables STRATUS_AGENT_<SECTION>_<KEY> override configuration keys,
for example STRATUS_AGENT_LIBVIRT_URI=qemu:///system or STRATUS_AGENT_API_LISTEN=127.0.0.1:8470.
`;

runDaemonCli({
  name: 'stratus-agent',
  help: HELP,
  defaultConfigPath: DEFAULT_AGENT_CONFIG_PATH,
  configEnv: 'STRATUS_AGENT_CONFIG',
  loadConfig: (path) => loadAgentConfig(path),
  create: (config) => new AgentDaemon(config),
  subcommand: {
    word: 'join',
    help: JOIN_HELP,
    run: (config, args) => runJoinCli(config, args, (s) => process.stdout.write(s)),
  },
});
