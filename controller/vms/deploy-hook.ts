// A deploy hook: a step of deploying a VM that another feature owns (its NICs and context CD-ROM, its
// volumes). The deployer runs every hook's prepare before sending the deploy, their deployArgs into the
// command, deployed after the agent answered, and release when the deploy failed or the VM is gone.

import type { VmSpec } from '../../protocol/vm-spec.ts';
import type { VmRecord } from './store.ts';

export interface DeployHook {
  name: string;
  prepare(vm: VmRecord, hostId: string, spec: VmSpec): Promise<VmSpec> | VmSpec;
  /** Releases what prepare reserved (the deploy failed, or the VM is deleted). */
  release?(vm: VmRecord): Promise<void> | void;
  /** Extra arguments of the deploy command (e.g. volumes to attach), reserved for this host. */
  deployArgs?(vm: VmRecord, hostId: string): Promise<Record<string, unknown>> | Record<string, unknown>;
  /** The deploy succeeded: what the agent answered. */
  deployed?(vm: VmRecord, result: Record<string, unknown>): Promise<void> | void;
}
