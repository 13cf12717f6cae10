// The host's own credentials, from `stratus-agent join`: its broker account, the broker and API URLs
// and the site CA, kept in the agent's state directory (credentials.json and site-ca.pem, mode 0600)
// and used from then on, unless [mqtt] sets them explicitly.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../common/errors.ts';
import { writeSecretFile } from '../../drivers/host-fs.ts';
import type { AgentConfig } from '../config.ts';

export interface StoredCredentials {
  hostId: string;
  mqtt: { url: string; username: string; password: string };
  apiUrl: string;
  caFingerprint: string;
  joinedAt: number;
}

export const credentialsPath = (stateDir: string) => join(stateDir, 'credentials.json');
export const siteCaPath = (stateDir: string) => join(stateDir, 'site-ca.pem');

export function readCredentials(stateDir: string): StoredCredentials | undefined {
  const p = credentialsPath(stateDir);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as StoredCredentials;
  } catch (err) {
    throw new ConfigError(`cannot read ${p}: ${(err as Error).message} (join again: stratus-agent join URL TOKEN)`, {
      path: p,
    });
  }
}

export function writeCredentials(stateDir: string, c: StoredCredentials, caPem: string): void {
  writeSecretFile(siteCaPath(stateDir), caPem.trim());
  writeSecretFile(credentialsPath(stateDir), JSON.stringify(c, null, 2));
}

/** [mqtt] with the joined credentials filled in where the configuration leaves them empty. */
export function effectiveMqttConfig(config: AgentConfig, creds: StoredCredentials | undefined): AgentConfig['mqtt'] {
  const m = config.mqtt;
  if (!creds) return m;
  const caFile = siteCaPath(config.agent.state_dir);
  return {
    ...m,
    url: m.url || creds.mqtt.url,
    username: m.username || creds.mqtt.username,
    password: m.password || creds.mqtt.password,
    tls_ca: m.tls_ca || (existsSync(caFile) ? caFile : ''),
  };
}
