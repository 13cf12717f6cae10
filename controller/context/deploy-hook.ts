// The context side of a deploy (a controller/vms DeployHook, after the network's): a VM with NICs on
// Stratus networks gets a context CD-ROM built from its leases (OpenNebula or NoCloud flavour), and the
// spec points at the ISO's token URL, which the agent downloads. Releasing removes the ISO.

import type { ContextFlavour } from '../../protocol/context.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import { hostnameOf } from '../network/deploy-hook.ts';
import type { DeployHook } from '../vms/deploy-hook.ts';
import type { VmRecord } from '../vms/store.ts';
import type { ContextService } from './service.ts';

export interface ContextDeployHookOptions {
  context: ContextService;
  /** Base URL agents reach the API at (without /v1). */
  publicUrl: () => string;
  flavour: ContextFlavour;
  addressing: 'static' | 'dhcp';
}

export class ContextDeployHook implements DeployHook {
  readonly name = 'context';

  constructor(private readonly o: ContextDeployHookOptions) {}

  async prepare(vm: VmRecord, _hostId: string, spec: VmSpec): Promise<VmSpec> {
    if (!spec.nics.some((n) => n.network)) return spec;
    const iso = await this.o.context.build({
      vmId: vm.id,
      hostname: hostnameOf(vm.name),
      flavour: this.o.flavour,
      addressing: this.o.addressing,
    });
    return { ...spec, context: { url: `${this.o.publicUrl().replace(/\/$/, '')}/v1${iso.url}`, sha256: iso.sha256 } };
  }

  async release(vm: VmRecord): Promise<void> {
    await this.o.context.remove(vm.id);
  }
}
