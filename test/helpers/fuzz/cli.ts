// The CLI fuzzer: the `stratus` argument parser and commands (cli/main.ts run(), in-process) against a
// real controller, with command words from the CLI's own table, positional arguments that are existing
// ids or hostile strings, the command's options with hostile values, unknown options and stray words.
// Properties: run() never throws; the exit code is one of the documented ones (0-6); a failure prints a
// first line `stratus: ...` (a usage line may follow), no stack trace and no control characters; a failed command created nothing.
// Commands that wait (vm wait, --wait) or start another program (vm ssh) are left out, and --url is never
// generated (the fuzzer must not send requests anywhere but its own controller).
import fc from 'fast-check';
import { EXIT } from '../../../cli/client.ts';
import { commands, run } from '../../../cli/main.ts';
import { nastyString } from './values.ts';
import type { FuzzWorld } from './world.ts';

const SKIP_COMMANDS = new Set(['vm ssh', 'vm wait']);
const SKIP_OPTIONS = new Set(['wait', 'url']);
/** Control characters (a terminal may act on them); the newline between message and usage is allowed. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;
const DOCUMENTED_EXITS = new Set<number>(Object.values(EXIT));

export interface CliStats {
  cases: number;
  crashes: number;
  bad_exits: number;
  unreadable: number;
  created_by_invalid: number;
  exits: Record<string, number>;
  findings: { what: string; argv: string[]; detail: string }[];
}

export function cliCase(ids: string[]): fc.Arbitrary<string[]> {
  const usable = commands.filter((c) => !SKIP_COMMANDS.has(c.words));
  const word = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ids) }, { weight: 2, arbitrary: nastyString });
  const perCommand = usable.map((c) => {
    const opts = Object.entries(c.options ?? {}).filter(([name]) => !SKIP_OPTIONS.has(name));
    const option = opts.length
      ? fc
          .constantFrom(...opts)
          .chain(([name, o]) =>
            o.type === 'boolean'
              ? fc.constant([`--${name}`] as string[])
              : fc.oneof(word, fc.integer().map(String)).map((v) => [`--${name}`, v]),
          )
      : fc.constant([] as string[]);
    return fc
      .tuple(
        fc.array(word, { maxLength: (c.args ?? 0) + 1 }),
        fc.array(option, { maxLength: 3 }),
        fc.oneof(
          { weight: 5, arbitrary: fc.constant([] as string[]) },
          {
            weight: 1,
            arbitrary: fc.constantFrom(
              ['--json'],
              ['--help'],
              ['--no-such-option'],
              ['--token', 'st_bad'],
              ['-x'],
              ['--'],
            ),
          },
        ),
      )
      .map(([pos, os, extra]) => [...c.words.split(' '), ...pos, ...os.flat(), ...extra]);
  });
  return fc.oneof(
    { weight: 9, arbitrary: fc.oneof(...perCommand) },
    {
      weight: 1,
      arbitrary: fc.array(fc.oneof(nastyString, fc.constantFrom('vm', 'image', 'net', 'disk', 'host')), {
        maxLength: 4,
      }),
    },
  );
}

export async function runCliCases(w: FuzzWorld, cases: string[][], token = w.fx.tokens.admin): Promise<CliStats> {
  const stats: CliStats = {
    cases: 0,
    crashes: 0,
    bad_exits: 0,
    unreadable: 0,
    created_by_invalid: 0,
    exits: {},
    findings: [],
  };
  const saved = {
    url: process.env['STRATUS_URL'],
    token: process.env['STRATUS_TOKEN'],
    xdg: process.env['XDG_CONFIG_HOME'],
  };
  process.env['STRATUS_URL'] = w.c.url;
  process.env['STRATUS_TOKEN'] = token;
  process.env['XDG_CONFIG_HOME'] = `${w.c.dir}/xdg-fuzz`;
  try {
    let before = w.counts();
    for (const argv of cases) {
      stats.cases++;
      const out: string[] = [];
      const err: string[] = [];
      let code: number;
      try {
        code = await run(
          argv,
          (s) => out.push(s),
          (s) => err.push(s),
        );
      } catch (e) {
        stats.crashes++;
        stats.findings.push({ what: 'crash', argv, detail: (e as Error).stack ?? String(e) });
        continue;
      }
      stats.exits[code] = (stats.exits[code] ?? 0) + 1;
      if (!DOCUMENTED_EXITS.has(code)) {
        stats.bad_exits++;
        stats.findings.push({ what: 'bad_exit', argv, detail: `exit ${code}` });
      }
      if (code !== EXIT.ok) {
        const text = err.join('\n');
        const lines = text.split('\n');
        const readable =
          lines[0]!.startsWith('stratus: ') &&
          lines.length <= 2 &&
          !/^\s+at /m.test(text) &&
          !CONTROL.test(text.replace(/\n/g, ''));
        if (!readable) {
          stats.unreadable++;
          stats.findings.push({ what: 'unreadable', argv, detail: text.slice(0, 400) });
        }
        const after = w.counts();
        const changed = Object.keys(after).filter((t) => (after[t] ?? 0) > (before[t] ?? 0));
        if (changed.length) {
          stats.created_by_invalid++;
          stats.findings.push({ what: 'created_by_invalid', argv, detail: changed.join(', ') });
        }
        before = after;
      } else {
        before = w.counts();
      }
    }
  } finally {
    for (const [k, v] of [
      ['STRATUS_URL', saved.url],
      ['STRATUS_TOKEN', saved.token],
      ['XDG_CONFIG_HOME', saved.xdg],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return stats;
}

export async function fuzzCli(w: FuzzWorld, n: number, seed: number): Promise<CliStats> {
  const ids = [w.fx.vm, w.fx.image, w.fx.volume, w.fx.network, w.fx.userA.id, w.fx.type, 'fuzz-image', 'debian'];
  const cases = fc.sample(cliCase(ids), { numRuns: n, seed });
  return runCliCases(w, cases);
}
