// `stratus-agent` command line: --config, --version, --help; runs the daemon until SIGTERM/SIGINT.

import { parseArgs } from 'node:util';
import { StratusError } from '../common/errors.ts';
import { VERSION } from '../common/version.ts';
import { DEFAULT_AGENT_CONFIG_PATH, loadAgentConfig } from './config.ts';
import { AgentDaemon } from './daemon.ts';

const HELP = `Usage: stratus-agent [--config PATH]

Runs the Stratus node agent: manages this host's libvirt domains and serves a local API.

Options:
  -c, --config PATH   configuration file (default ${DEFAULT_AGENT_CONFIG_PATH})
  -v, --version       print the version and exit
  -h, --help          print this help and exit

Environment variables STRATUS_AGENT_<SECTION>_<KEY> override configuration keys,
for example STRATUS_AGENT_LIBVIRT_URI=qemu:///system or STRATUS_AGENT_API_LISTEN=127.0.0.1:8470.
`;

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
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
    process.stderr.write(`stratus-agent: ${(err as Error).message}\n`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (args.values.version) {
    process.stdout.write(`stratus-agent ${VERSION}\n`);
    return 0;
  }
  const config = loadAgentConfig(
    args.values.config ?? process.env['STRATUS_AGENT_CONFIG'] ?? DEFAULT_AGENT_CONFIG_PATH,
  );
  const daemon = new AgentDaemon(config);
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
    process.stderr.write(`stratus-agent: ${msg}\n`);
    process.exit(1);
  },
);
