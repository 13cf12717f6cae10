// Where the CLI finds the controller, its token and the site CA: flags, then STRATUS_URL /
// STRATUS_TOKEN / STRATUS_CA, then $XDG_CONFIG_HOME/stratus/config.toml (or ~/.config/stratus/config.toml)
// with `url`, `token` and `ca` (the path of the site CA's PEM, <controller state_dir>/tls/ca.pem).

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { CliError, EXIT } from './client.ts';

export interface CliConfig {
  url: string;
  token: string;
  /** PEM of the site CA, when one is configured. */
  ca?: string;
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['XDG_CONFIG_HOME'] || join(homedir(), '.config'), 'stratus', 'config.toml');
}

export function loadCliConfig(
  flags: { url?: string | undefined; token?: string | undefined; ca?: string | undefined },
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
  const caPath = flags.ca ?? env['STRATUS_CA'] ?? (file['ca'] as string | undefined) ?? '';
  let ca: string | undefined;
  if (caPath) {
    try {
      ca = readFileSync(caPath, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read the site CA ${caPath}: ${(err as NodeJS.ErrnoException).code}`, EXIT.usage);
    }
  }
  return { url: url.replace(/\/$/, ''), token, ...(ca ? { ca } : {}) };
}
