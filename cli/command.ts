// The shape of a CLI command: its words ("vm create"), usage, options (each with a one-line meaning,
// shown by `stratus COMMAND --help`), and a run function that returns what to print (tables for
// people; the raw API answer for --json) and, for commands that run another program, its exit code.

import type { ApiClient } from './client.ts';

export interface CommandContext {
  api: ApiClient;
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
  json: boolean;
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  /** What the option means, in one line. */
  help: string;
  /** How its value is written in the help (string options), e.g. NAME, GiB, FILE. */
  value?: string;
}

export interface Command {
  words: string;
  usage: string;
  summary: string;
  options?: Record<string, OptionSpec>;
  /** Number of positional arguments required. */
  args?: number;
  run(ctx: CommandContext): Promise<{ human: string; json: unknown; exitCode?: number }>;
}
