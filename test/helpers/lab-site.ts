// A Stratus site on the two-host lab (test/helpers/lab.ts): a controller (embedded broker) and one agent per
// lab host, each agent on its host's libvirtd (unix socket) with its own state directory under the lab, and
// the host's lab address as its migration endpoint. For migration tests and the migrate benchmark.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AgentHandle } from './agent-process.ts';
import { type ControllerHandle, startController } from './controller-process.ts';
import { type Lab, type LabHost, labUp } from './lab.ts';

const run = promisify(execFile);

export interface LabSite {
  lab: Lab;
  c: ControllerHandle;
  /** Host id of each lab host, by lab host name (`a`, `b`). */
  hostIds: Record<string, string>;
  agents: Record<string, AgentHandle>;
  /** The lab host a Stratus host id stands for. */
  labHostOf: (hostId: string) => LabHost;
  /** Starts (again) the agent of lab host `h`, with extra TOML (e.g. a [migration] override). */
  startAgent: (h: string, extraToml?: string) => Promise<AgentHandle>;
  /** The other lab host's id. */
  other: (hostId: string) => string;
  /** The agent of a host (the current one: tests replace restarted agents in `agents`). */
  agentOf: (hostId: string) => AgentHandle;
  /** A VM's serial console log as its agent on `hostId` wrote it ('' when none). */
  consoleText: (hostId: string, vm: string) => string;
  /** UUIDs of every domain (running or not) on a host's libvirtd. */
  domains: (hostId: string) => Promise<string[]>;
  cleanup: () => Promise<void>;
}

/** The last round of the test guest's I/O probe on `dev` in a console text (0 before the first). */
export function ioRounds(text: string, dev = 'vda', marker?: string): number {
  const re = new RegExp(`STRATUS-IO ${dev} ok (\\d+)${marker ? ` ${marker}` : ''}`, 'g');
  return Math.max(0, ...[...text.matchAll(re)].map((m) => Number(m[1])));
}

export function migrationToml(host: LabHost): string {
  return `[migration]\npeer_uri = "${host.peerUri}"\naddress = "${host.address}"\n`;
}

export async function startLabSite(
  opts: {
    tag?: string;
    controllerToml?: string;
    /** Extra agent TOML per lab host (`a`, `b`), e.g. its iSCSI initiator name. */
    agentToml?: (h: string) => string;
    /** Runs once the lab is up, before the controller starts; answers extra controller TOML. */
    beforeController?: (lab: Lab) => Promise<string>;
  } = {},
): Promise<LabSite> {
  const lab = await labUp(opts.tag ? { tag: opts.tag } : {});
  let c: ControllerHandle | undefined;
  try {
    const ctlExtra = `${opts.controllerToml ?? ''}${(await opts.beforeController?.(lab)) ?? ''}`;
    c = await startController(ctlExtra ? { extraToml: ctlExtra } : {});
    const ctl = c;
    const hostIds: Record<string, string> = {};
    const agents: Record<string, AgentHandle> = {};
    for (const h of lab.hosts) hostIds[h.name] = `lab-${lab.tag}-${h.name}`;
    const startAgent = async (name: string, extra = '') => {
      const host = lab.hosts.find((h) => h.name === name)!;
      const own = opts.agentToml?.(name) ?? '';
      const a = await ctl.agent(hostIds[name]!, { uri: host.uri, extraToml: `${migrationToml(host)}${own}${extra}` });
      agents[name] = a;
      return a;
    };
    for (const h of lab.hosts) await startAgent(h.name);
    const nameOf = (id: string) => (id === hostIds['a'] ? 'a' : 'b');
    const labHostOf = (id: string) => lab.hosts.find((h) => hostIds[h.name] === id)!;
    return {
      lab,
      c,
      hostIds,
      agents,
      startAgent,
      labHostOf,
      other: (id) => (id === hostIds['a'] ? hostIds['b']! : hostIds['a']!),
      agentOf: (id) => agents[nameOf(id)]!,
      consoleText: (id, vm) => {
        try {
          return readFileSync(join(agents[nameOf(id)]!.dir, 'console', `${vm}.log`), 'utf8');
        } catch {
          return '';
        }
      },
      domains: async (id) => (await labHostOf(id).virsh('list', '--all', '--uuid')).split('\n').filter(Boolean),
      cleanup: async () => {
        await ctl.cleanup();
        await lab.down();
      },
    };
  } catch (err) {
    await c?.cleanup();
    await lab.down();
    throw err;
  }
}

/**
 * Runs `fn` while lab host `host`'s namespace refuses new TCP connections to every port but libvirtd's
 * (16509) and `keep`: QEMU's migration and NBD ports refuse, so a migration to it fails; the host's own
 * outgoing connections (QEMU's iSCSI login) are not touched.
 */
export async function withPortsRefused<T>(lab: Lab, host: LabHost, keep: number[], fn: () => Promise<T>): Promise<T> {
  const table = `stratus_lab_${lab.tag}`;
  const nft = (...args: string[]) => run('ip', ['netns', 'exec', host.ns, 'nft', ...args]);
  const ports = `{ ${[16509, ...keep].join(', ')} }`;
  await nft('add', 'table', 'inet', table);
  await nft('add', 'chain', 'inet', table, 'in', '{ type filter hook input priority 0; }');
  await nft(
    'add',
    'rule',
    'inet',
    table,
    'in',
    'tcp',
    'dport',
    '!=',
    ports,
    'ct',
    'state',
    'new',
    'reject',
    'with',
    'tcp',
    'reset',
  );
  try {
    return await fn();
  } finally {
    await nft('delete', 'table', 'inet', table);
  }
}
