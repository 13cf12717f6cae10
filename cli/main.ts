// `stratus`: the command-line client of a Stratus controller. Tables by default, --json everywhere,
// one readable error line and an exit code that scripts can trust (see EXIT in client.ts).

import { parseArgs } from 'node:util';
import { VERSION } from '../common/version.ts';
import { ApiClient, CliError, EXIT } from './client.ts';
import type { Command } from './command.ts';
import { adminCommands } from './commands/admin.ts';
import { auditCommands } from './commands/audit.ts';
import { diskCommands } from './commands/disk.ts';
import { enrolCommands } from './commands/enrol.ts';
import { imageCommands } from './commands/image.ts';
import { migrateCommands } from './commands/migrate.ts';
import { imageSignCommands } from './commands/image-sign.ts';
import { marketCommands } from './commands/market.ts';
import { keyCommands } from './commands/key.ts';
import { netCommands } from './commands/net.ts';
import { snapshotCommands } from './commands/snapshot.ts';
import { vmCommands } from './commands/vm.ts';
import { configPath, loadCliConfig } from './config.ts';
import { closestOption, commandHelp, GLOBAL_OPTIONS, parseOptions } from './help.ts';

export const commands: Command[] = [
  ...vmCommands,
  ...keyCommands,
  ...snapshotCommands,
  ...imageCommands,
  ...imageSignCommands,
  ...marketCommands,
  ...netCommands,
  ...diskCommands,
  ...adminCommands,
  ...migrateCommands,
  ...auditCommands,
  ...enrolCommands,
];

export function help(): string {
  const short = (c: Command) => c.usage.split(/ \[| --/)[0]!.replace(/^stratus /, '');
  const width = Math.max(...commands.map((c) => short(c).length));
  return [
    'Usage: stratus [--json] [--url URL] [--token TOKEN] [--ca PEM] COMMAND [ARGS]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${short(c).padEnd(width)}  ${c.summary}`),
    '',
    `The controller URL, token and site CA come from --url/--token/--ca, STRATUS_URL/STRATUS_TOKEN/STRATUS_CA,`,
    `or ${configPath()} (keys \`url\`, \`token\`, \`ca\`). \`stratus COMMAND --help\` shows a command's options.`,
    `Exit codes: 0 ok, 1 API error, 2 usage, 3 cannot connect, 4 not found, 5 conflict, 6 not allowed.`,
  ].join('\n');
}

/** Where the command's words ("vm", "create") are in argv: the first two arguments that are neither
 * options nor the value of a global option given as a separate argument (`--url URL vm list`). */
function wordPositions(argv: string[]): number[] {
  const at: number[] = [];
  for (let i = 0; i < argv.length && at.length < 2; i++) {
    const a = argv[i]!;
    if (a === '--url' || a === '--token' || a === '--ca') i++;
    else if (!a.startsWith('-')) at.push(i);
  }
  return at;
}

/** A message on one line that a terminal only displays: control characters (newlines included, NUL,
 * escape sequences), which may come from the arguments or from the API's echo of them, are shown escaped. */
function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** node:util parseArgs explains some problems over several lines: one line for people and scripts. */
function parseProblem(e: Error): string {
  const option = /^Option '([^']+)' argument is ambiguous/.exec(e.message)?.[1];
  if (option) {
    const name = option.split(' ')[0];
    return `option ${name} needs a value (a value starting with "-" is written ${name}=-VALUE)`;
  }
  return e.message.split('\n')[0]!;
}

export async function run(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let at = wordPositions(argv);
  let words = at.map((i) => argv[i]).join(' ');
  let cmd = commands.find((c) => c.words === words);
  // one-word commands (`stratus audit --user alice`): the second word may be an option's value
  const one = commands.find((c) => c.words === argv[at[0] ?? -1]);
  if (!cmd && one) {
    cmd = one;
    at = at.slice(0, 1);
    words = one.words;
  }
  if (!cmd) {
    if (argv.includes('--version') || argv.includes('-v')) {
      out(`stratus ${VERSION}`);
      return EXIT.ok;
    }
    if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
      out(help());
      return EXIT.ok;
    }
    err(`stratus: unknown command ${JSON.stringify(words)} (stratus --help lists them)`);
    return EXIT.usage;
  }
  const rest = argv.filter((_, i) => !at.includes(i));
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: parseOptions({ ...GLOBAL_OPTIONS, ...(cmd.options ?? {}) }),
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    const code = (e as { code?: string }).code;
    const unknown = /^Unknown option '([^']+)'/.exec((e as Error).message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
      const near = closestOption(unknown, Object.keys({ ...GLOBAL_OPTIONS, ...(cmd.options ?? {}) }));
      err(
        `stratus: unknown option ${oneLine(unknown)} for ${cmd.words}${near ? `; did you mean --${near}?` : ''} (stratus ${cmd.words} --help lists them)`,
      );
    } else err(`stratus: ${oneLine(parseProblem(e as Error))}\nusage: ${cmd.usage}`);
    return EXIT.usage;
  }
  if (parsed.values['help']) {
    out(commandHelp(cmd));
    return EXIT.ok;
  }
  if (parsed.positionals.length < (cmd.args ?? 0)) {
    err(`stratus: missing argument\nusage: ${cmd.usage}`);
    return EXIT.usage;
  }
  try {
    const cfg = loadCliConfig({
      url: parsed.values['url'] as string | undefined,
      token: parsed.values['token'] as string | undefined,
      ca: parsed.values['ca'] as string | undefined,
    });
    const json = parsed.values['json'] === true;
    const r = await cmd.run({
      api: new ApiClient(cfg.url, cfg.token, cfg.ca),
      positionals: parsed.positionals,
      values: parsed.values as Record<string, string | boolean | string[] | undefined>,
      json,
    });
    if (json || r.human !== '') out(json ? JSON.stringify(r.json, null, 2) : r.human);
    return r.exitCode ?? EXIT.ok;
  } catch (e) {
    if (e instanceof CliError) {
      err(`stratus: ${oneLine(e.message)}${e.code ? ` (${e.code})` : ''}`);
      return e.exitCode;
    }
    err(`stratus: ${oneLine((e as Error).message)}`);
    return EXIT.api;
  }
}
