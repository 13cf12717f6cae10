// The volume service's port to the rest of the controller: what it needs to know about a VM (owner,
// placement) and the commands it sends to the VM's agent. controller/volumes/hosts.ts implements it
// over the VM store and MQTT; tests use a real agent's local API or a stand-in.

import type { AttachedVolume, VolumeAttachment } from '../../protocol/volume.ts';

/** What the volume service needs to know about a VM. */
export interface VmPlacement {
  id: string;
  ownerId: string;
  /** The host it runs on, null while it is not placed. */
  hostId: string | null;
  state: string;
}

/**
 * The service's port to the rest of the controller: VM records, host facts and the commands to agents.
 * The controller wires it to its VM store, host registry and MQTT command dispatch.
 */
export interface VolumeHosts {
  vm(vmId: string): VmPlacement | undefined | Promise<VmPlacement | undefined>;
  /** The iSCSI initiator name the host's agent reported. */
  initiatorName(hostId: string): Promise<string>;
  /** Attaches (hot-plugs when running); throws AgentOutcomeUnknownError when the outcome is unknown. */
  attach(hostId: string, vmId: string, attachment: VolumeAttachment): Promise<AttachedVolume>;
  /** Detaches (hot-unplugs); resolves when the guest released the device. Not attached is success. */
  detach(hostId: string, vmId: string, volumeId: string): Promise<void>;
}
