// Help of the CLI: every option of a command with its one-line meaning, the global options, and the
// closest valid option when one is mistyped (edit distance), so that `--hlep` and `--volatile-disks`
// are answered with what was meant.

import type { Command, OptionSpec } from './command.ts';

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', help: 'Print the API answer as JSON instead of a table' },
  url: { type: 'string', value: 'URL', help: 'Controller URL (else STRATUS_URL or the config file)' },
  token: { type: 'string', value: 'TOKEN', help: 'API token (else STRATUS_TOKEN or the config file)' },
  ca: {
    type: 'string',
    value: 'PEM',
    help: "Site CA to verify an https:// controller with (else STRATUS_CA or the config file's `ca`)",
  },
  help: { type: 'boolean', short: 'h', help: 'Show this help' },
  version: { type: 'boolean', short: 'v', help: 'Print the version' },
};

function optionLines(options: Record<string, OptionSpec>): string[] {
  const left = (name: string, o: OptionSpec) =>
    `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}${o.multiple ? ' (repeatable)' : ''}`;
  const rows = Object.entries(options).map(([n, o]) => [left(n, o), o.help] as const);
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`);
}

export function commandHelp(cmd: Command): string {
  const own = cmd.options ?? {};
  return [
    `usage: ${cmd.usage}`,
    cmd.summary,
    ...(Object.keys(own).length > 0 ? ['', 'Options:', ...optionLines(own)] : []),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
  ].join('\n');
}

/** node:util parseArgs options from ours (without the help texts). */
export function parseOptions(options: Record<string, OptionSpec>) {
  return Object.fromEntries(
    Object.entries(options).map(([n, o]) => [
      n,
      { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) },
    ]),
  );
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/** The valid option closest to a mistyped one, if any is close enough to be what was meant. */
export function closestOption(given: string, names: string[]): string | undefined {
  const g = given.replace(/^-+/, '').split('=')[0]!;
  let best: { name: string; d: number } | undefined;
  for (const name of names) {
    const d = name.startsWith(g) || g.startsWith(name) ? Math.min(1, distance(g, name)) : distance(g, name);
    if (!best || d < best.d) best = { name, d };
  }
  return best && best.d <= Math.max(2, Math.floor(g.length / 3)) ? best.name : undefined;
}
