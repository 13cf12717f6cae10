// Where the CLI finds the controller and its token: flags, then STRATUS_URL / STRATUS_TOKEN, then
// $XDG_CONFIG_HOME/stratus/config.toml (or ~/.config/stratus/config.toml) with `url` and `token`.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { CliError, EXIT } from './client.ts';

export interface CliConfig {
  url: string;
  token: string;
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['XDG_CONFIG_HOME'] || join(homedir(), '.config'), 'stratus', 'config.toml');
}

export function loadCliConfig(
  flags: { url?: string | undefined; token?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): CliConfig {
  let file: Record<string, unknown> = {};
  const path = configPath(env);
  try {
    file = parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new CliError(`cannot read ${path}: ${(err as Error).message}`, EXIT.usage);
  }
  const url = flags.url ?? env['STRATUS_URL'] ?? (file['url'] as string | undefined) ?? 'http://127.0.0.1:8480';
  const token = flags.token ?? env['STRATUS_TOKEN'] ?? (file['token'] as string | undefined) ?? '';
  return { url: url.replace(/\/$/, ''), token };
}
