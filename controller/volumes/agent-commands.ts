// The volume service's port to VMs and agents in a running controller: VM placement from the VM store,
// and the agents' volume.* commands over the MQTT command dispatcher. A command that got no answer by
// its deadline may still have run: that becomes AgentOutcomeUnknownError, so the volume goes to error
// with the reason instead of being rolled back blindly.

import { randomUUID } from 'node:crypto';
import { StratusError } from '../../common/errors.ts';
import type { CommandDispatcher } from '../mqtt/command-dispatcher.ts';
import type { VmRecord } from '../vms/store.ts';
import { AgentOutcomeUnknownError } from './errors.ts';
import type { VolumeHosts } from './ports.ts';
import type { AgentCommand, CommandArgs, CommandResult } from '../../protocol/mqtt/index.ts';

export interface ControllerVolumeHostsOptions {
  dispatcher: CommandDispatcher;
  vm: (id: string) => VmRecord | undefined;
  timeoutMs: number;
  /** How long a host's initiator name is remembered. */
  initiatorTtlMs?: number;
}

export function controllerVolumeHosts(o: ControllerVolumeHostsOptions): VolumeHosts {
  const initiators = new Map<string, { name: string; at: number }>();
  const ttl = o.initiatorTtlMs ?? 300_000;
  const send = async <K extends AgentCommand>(
    host: string,
    command: K,
    args: CommandArgs<K>,
    key: string,
  ): Promise<CommandResult<K>> => {
    try {
      return await o.dispatcher.dispatch(host, command, args, { key, timeoutMs: o.timeoutMs });
    } catch (err) {
      if (err instanceof StratusError && err.code === 'STRATUS_ERR_DEADLINE_EXCEEDED')
        throw new AgentOutcomeUnknownError(host, command, err);
      throw err;
    }
  };
  return {
    vm(id) {
      const r = o.vm(id);
      if (!r || r.state === 'deleted') return undefined;
      return { id: r.id, ownerId: r.ownerId, hostId: r.hostId, state: r.state };
    },
    async initiatorName(host) {
      const c = initiators.get(host);
      if (c && Date.now() - c.at < ttl) return c.name;
      const info = await send(host, 'volume.info', {}, `volume.info:${randomUUID()}`);
      initiators.set(host, { name: info.initiatorName, at: Date.now() });
      return info.initiatorName;
    },
    attach: (host, vmId, attachment) =>
      send(host, 'volume.attach', { vm: vmId, attachment }, `volume.attach:${randomUUID()}`),
    async detach(host, vmId, volumeId) {
      await send(host, 'volume.detach', { vm: vmId, volume: volumeId }, `volume.detach:${randomUUID()}`);
    },
  };
}
