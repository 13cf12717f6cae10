// Request schemas of the agent's local HTTP API (the controller reaches agents over MQTT instead).

import { type Static, Type } from '@sinclair/typebox';
import { VmSpec } from './vm-spec.ts';
import { VolumeAttachment } from './volume.ts';

export const CreateVmRequest = Type.Object(
  {
    spec: VmSpec,
    start: Type.Boolean({ default: true, description: 'Start the VM once defined' }),
    volumes: Type.Optional(
      Type.Array(VolumeAttachment, { maxItems: 16, description: 'Volumes to attach before the VM starts' }),
    ),
  },
  { additionalProperties: false },
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
