// Instance types (flavours) as the REST API shows and takes them: named CPU, memory, root disk and swap
// sizes. Shared by the controller's routes and the CLI's tables.

import { type Static, Type } from '@sinclair/typebox';

export const TypeName = Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z0-9][a-z0-9.-]*$' });
export const InstanceType = Type.Object(
  {
    name: TypeName,
    vcpus: Type.Integer({ minimum: 1, maximum: 256 }),
    memoryMiB: Type.Integer({ minimum: 16, maximum: 4_194_304 }),
    diskGiB: Type.Integer({ minimum: 0, maximum: 65_536, description: 'Root disk size; 0 keeps the image size' }),
    swapMiB: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 4_194_304, default: 0, description: 'Swap disk size in MiB; 0: none' }),
    ),
  },
  { additionalProperties: false },
);
export type InstanceType = Static<typeof InstanceType>;
