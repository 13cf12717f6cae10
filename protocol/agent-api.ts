// Schemas of the agent's VM operations, shared by its local HTTP API and its MQTT commands (the
// controller reaches agents over MQTT; protocol/mqtt/command-catalogue.ts names the same schemas):
// one VM creation request, power actions, and the VM view both return.

import { type Static, Type } from '@sinclair/typebox';
import { DesiredPower, VmSpec } from './vm-spec.ts';
import { AttachedVolume, VolumeAttachment } from './volume.ts';

export const CreateVmRequest = Type.Object(
  {
    spec: VmSpec,
    start: Type.Boolean({ default: true, description: 'Start the VM once defined' }),
    volumes: Type.Optional(
      Type.Array(VolumeAttachment, { maxItems: 16, description: 'Volumes to attach before the VM starts' }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Create a VM from its spec: local POST /v1/vms and the MQTT deploy command',
  },
);
export type CreateVmRequest = Static<typeof CreateVmRequest>;

export const VmActionName = Type.Union(
  ['start', 'stop', 'reboot', 'reset', 'suspend', 'resume'].map((a) => Type.Literal(a)),
  { errorMessage: 'must be one of start, stop, reboot, reset, suspend, resume' },
);

export const VmActionRequest = Type.Object(
  {
    force: Type.Optional(Type.Boolean({ description: 'stop: destroy at once instead of an ACPI shutdown' })),
    timeoutS: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 3600, description: 'stop: seconds to wait before destroying' }),
    ),
  },
  { additionalProperties: false },
);

export const ConsoleQuery = Type.Object({
  bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_048_576 })),
});

/** A VM as the agent reports it after an operation. */
export const VmView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  domain: Type.String({ description: 'libvirt domain name (stratus-<id>)' }),
  desired: DesiredPower,
  state: Type.String({ description: 'libvirt power state (running, paused, shutoff, ..., missing)' }),
  reason: Type.String(),
  consoleLog: Type.String({ description: 'Path of the serial console log on the host' }),
  createdAt: Type.Integer(),
  updatedAt: Type.Integer(),
  spec: VmSpec,
  volumes: Type.Optional(Type.Array(AttachedVolume, { description: 'Volumes attached by this create' })),
  key: Type.Optional(Type.String({ description: 'Idempotency key (attempt) of the deploy that created the VM' })),
  specHash: Type.Optional(
    Type.String({ description: 'specHash() of the spec the deploy carried (protocol/mqtt/inventory.ts)' }),
  ),
});
export type VmView = Static<typeof VmView>;
