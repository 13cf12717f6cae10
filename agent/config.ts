// The agent's configuration schema: every key, its default and what it does. Read from
// /etc/stratus/agent.toml; STRATUS_AGENT_<SECTION>_<KEY> environment variables override.

import { type Static, Type } from '@sinclair/typebox';
import { loadConfig } from '../common/config.ts';

const S = (def: string, description: string, extra: object = {}) =>
  Type.String({ default: def, description, ...extra });
const I = (def: number, description: string, min = 0, max = 86_400) =>
  Type.Integer({ default: def, description, minimum: min, maximum: max });

export const AgentConfigSchema = Type.Object({
  agent: Type.Object(
    {
      host_id: S('', 'Identity of this host in the cloud; empty means the machine hostname'),
      state_dir: S('/var/lib/stratus/agent', 'Directory for the agent database and instance files'),
      console_log_dir: S('/var/log/stratus/console', 'Directory where each VM serial console is recorded'),
      resync_interval_s: I(30, 'Seconds between full comparisons of desired state with libvirt', 1, 3600),
    },
    { description: 'Agent identity and files' },
  ),
  libvirt: Type.Object(
    {
      uri: S('qemu:///system', 'libvirt connection URI'),
      virt_type: Type.Union([Type.Literal('kvm'), Type.Literal('qemu')], {
        default: 'kvm',
        description: 'Domain type: kvm (hardware virtualisation) or qemu (TCG emulation), as Nova virt_type',
      }),
      workers: I(4, 'Threads that run blocking libvirt calls', 1, 64),
      keepalive_interval_s: I(5, 'libvirt keepalive interval in seconds (0 disables)', 0, 600),
      keepalive_count: I(3, 'Missed keepalives before the connection is declared dead', 1, 100),
      shutdown_timeout_s: I(60, 'Seconds a guest has to shut down cleanly before it is destroyed', 1, 3600),
    },
    { description: 'Connection to libvirtd' },
  ),
  api: Type.Object(
    {
      listen: S('127.0.0.1:8470', 'Local API address: host:port, or unix:/path/to/socket'),
    },
    { description: 'Local control API (never exposed off-host)' },
  ),
  log: Type.Object(
    {
      level: Type.Union(
        ['fatal', 'error', 'warn', 'info', 'debug', 'trace'].map((l) => Type.Literal(l)),
        { default: 'info', description: 'Log level' },
      ),
    },
    { description: 'Logging (structured JSON on stdout, for the journal)' },
  ),
});
export type AgentConfig = Static<typeof AgentConfigSchema>;

export const DEFAULT_AGENT_CONFIG_PATH = '/etc/stratus/agent.toml';

export function loadAgentConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  return loadConfig(AgentConfigSchema, {
    path,
    envPrefix: 'STRATUS_AGENT',
    env,
    required: path !== DEFAULT_AGENT_CONFIG_PATH,
  });
}
