// The command line shared by the daemons: --config/--version/--help, an optional sub-command with its
// own arguments, config loading, SIGTERM/SIGINT handled as a clean stop, one readable error line and
// an exit code (2 for usage, 1 for anything else).

import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { StratusError } from './errors.ts';
import { VERSION } from './version.ts';

export interface Daemon {
  readonly log: Logger;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface DaemonCliOptions<C> {
  /** Program name, as in messages and --version. */
  name: string;
  help: string;
  defaultConfigPath: string;
  /** Environment variable that names the configuration file. */
  configEnv: string;
  loadConfig: (path: string) => C;
  create: (config: C) => Daemon;
  /** A sub-command (e.g. `mqtt`): the arguments after its word go to `run`. */
  subcommand?: { word: string; help: string; run: (config: C, args: string[]) => Promise<number> | number };
}

async function main<C>(o: DaemonCliOptions<C>, argv: string[]): Promise<number> {
  const sub = o.subcommand ? argv.indexOf(o.subcommand.word) : -1;
  let values: { config?: string | undefined; version?: boolean | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: sub >= 0 ? argv.slice(0, sub) : argv,
      options: {
        config: { type: 'string', short: 'c' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${o.name}: ${(err as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(o.subcommand ? `${o.help}\n${o.subcommand.help}` : o.help);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${o.name} ${VERSION}\n`);
    return 0;
  }
  const config = o.loadConfig(values.config ?? process.env[o.configEnv] ?? o.defaultConfigPath);
  if (o.subcommand && sub >= 0) return o.subcommand.run(config, argv.slice(sub + 1));
  const daemon = o.create(config);
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
  return -1; // keeps running until a signal
}

export function runDaemonCli<C>(o: DaemonCliOptions<C>, argv = process.argv.slice(2)): void {
  main(o, argv).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err) => {
      const msg = err instanceof StratusError ? `${err.message} (${err.code})` : String(err?.stack ?? err);
      process.stderr.write(`${o.name}: ${msg}\n`);
      process.exit(1);
    },
  );
}
