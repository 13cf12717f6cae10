// The shape of a CLI command: its words ("vm create"), usage, options for node:util parseArgs, and a
// run function that returns what to print (tables for people; the raw API answer for --json).

import type { ParseArgsConfig } from 'node:util';
import type { ApiClient } from './client.ts';

export interface CommandContext {
  api: ApiClient;
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
  json: boolean;
}

export interface Command {
  words: string;
  usage: string;
  summary: string;
  options?: ParseArgsConfig['options'];
  /** Number of positional arguments required. */
  args?: number;
  run(ctx: CommandContext): Promise<{ human: string; json: unknown }>;
}
