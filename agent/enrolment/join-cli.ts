// `stratus-agent [--config PATH] join URL TOKEN`: enrols this host once (see join.ts), then exits;
// the agent started afterwards uses the stored credentials.

import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { ValidationError } from '../../common/errors.ts';
import { ensureDir } from '../../drivers/host-fs.ts';
import type { AgentConfig } from '../config.ts';
import { credentialsPath, readCredentials } from './credentials.ts';
import { joinSite } from './join.ts';

export const JOIN_HELP = `Usage: stratus-agent [--config PATH] join URL TOKEN [--force]

Enrols this host: redeems the one-time TOKEN of \`stratus host add\` at the controller URL (its API,
e.g. https://controller:8480), pinning the site CA by the fingerprint the token carries, and stores
the host's broker credentials and the site CA in the state directory (mode 0600). The host id is
[agent] host_id, or the hostname; the token must have been issued for it.
  --force   join again even if credentials are already stored (after \`stratus host revoke\`)
`;

export async function runJoinCli(config: AgentConfig, argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    out(JOIN_HELP);
    return 0;
  }
  const [url, token] = positionals;
  if (!url || !token || positionals.length > 2) throw new ValidationError('usage: stratus-agent join URL TOKEN');
  const stateDir = config.agent.state_dir;
  if (readCredentials(stateDir) && !values.force) {
    throw new ValidationError(`already joined (${credentialsPath(stateDir)}); --force joins again`);
  }
  await ensureDir(stateDir);
  const creds = await joinSite({ url, token, hostId: config.agent.host_id || hostname(), stateDir });
  out(`joined as ${creds.hostId}; broker ${creds.mqtt.url}; credentials in ${credentialsPath(stateDir)}\n`);
  return 0;
}
