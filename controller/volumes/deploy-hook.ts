// The volumes' part of a deploy: the VM's volumes are opened to the chosen host (target ACL, CHAP) and
// travel with the deploy command; the agent's answer says where each was attached; a failed deploy or
// a deleted VM releases them (after the agent released the host side).

import type { AttachedVolume } from '../../protocol/volume.ts';
import type { DeployHook } from '../vms/deploy-hook.ts';
import type { VolumeService } from './service.ts';

/** Releases a VM's volumes when its deploy fails or it is deleted (the agent released the host side). */
export function volumeDeployHook(volumes: VolumeService): DeployHook {
  return {
    name: 'volumes',
    prepare: (_vm, _host, spec) => spec,
    // the VM's volumes are opened to the chosen host and travel with the deploy command
    deployArgs: async (vm, host) =>
      vm.volumes.length > 0 ? { volumes: await volumes.prepareDeploy(vm.id, host, vm.volumes, vm.ownerId) } : {},
    deployed: (vm, result) => {
      const attached = (result['volumes'] ?? []) as AttachedVolume[];
      if (vm.volumes.length > 0) volumes.confirmDeploy(vm.id, attached);
    },
    release: async (vm) => {
      await volumes.releaseVm(vm.id);
    },
  };
}
