// The context side of a deploy (a controller/vms DeployHook, after the network's): every VM gets a
// context CD-ROM (OpenNebula or NoCloud flavour) with its host name, its NICs from the leases the network
// hook took, the keys and user data it was created with, and its swap disk; the spec points at the ISO's token URL,
// which the agent downloads. Releasing removes the ISO.

import type { ContextFlavour } from '../../protocol/context.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import { hostnameOf } from '../network/deploy-hook.ts';
import type { DeployHook } from '../vms/deploy-hook.ts';
import type { VmRecord } from '../vms/store.ts';
import { SWAP_DEVICE } from '../vms/vm-disks.ts';
import type { ContextService } from './service.ts';
import type { VmContextRequest } from './vm-context.ts';

export interface ContextDeployHookOptions {
  context: ContextService;
  /** Base URL agents reach the API at (without /v1). */
  publicUrl: () => string;
  flavour: ContextFlavour;
  addressing: 'static' | 'dhcp';
  /** What the VM's creation asked of its context (keys, user data, method...). */
  contextFor?: (vm: VmRecord) => VmContextRequest | undefined;
}

export class ContextDeployHook implements DeployHook {
  readonly name = 'context';

  constructor(private readonly o: ContextDeployHookOptions) {}

  async prepare(vm: VmRecord, hostId: string, spec: VmSpec): Promise<VmSpec> {
    const asked = this.o.contextFor?.(vm);
    // its download URL is bound to the host the VM is deployed on, and expires
    const iso = await this.o.context.build(
      {
        flavour: this.o.flavour,
        ...asked,
        vmId: vm.id,
        hostname: hostnameOf(vm.name),
        addressing: this.o.addressing,
        ...(vm.swapMiB > 0 ? { swapDevice: SWAP_DEVICE } : {}),
      },
      undefined,
      hostId,
    );
    return { ...spec, context: { url: `${this.o.publicUrl().replace(/\/$/, '')}/v1${iso.url}`, sha256: iso.sha256 } };
  }

  /**
   * A VM migrating to `hostId` gets its CD-ROM under a URL bound to that host: the same ISO (its content
   * does not depend on the host), built again only if it is missing.
   */
  async retarget(vm: VmRecord, hostId: string, spec: VmSpec): Promise<VmSpec> {
    if (!spec.context) return spec;
    const again = await this.o.context.reissue(vm.id, hostId);
    if (!again) return this.prepare(vm, hostId, spec);
    return {
      ...spec,
      context: { url: `${this.o.publicUrl().replace(/\/$/, '')}/v1${again.url}`, sha256: again.sha256 },
    };
  }

  async release(vm: VmRecord): Promise<void> {
    await this.o.context.remove(vm.id);
  }
}
