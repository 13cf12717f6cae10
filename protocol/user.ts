// Users of the REST API as the API shows them: a name, a role, per-user quotas. Shared by the
// controller's routes (validation, OpenAPI) and the CLI's tables.

import { type Static, Type } from '@sinclair/typebox';

export const Role = Type.Union([Type.Literal('admin'), Type.Literal('user')]);
export const Quota = Type.Object(
  {
    vms: Type.Integer({ minimum: 0, maximum: 100_000, default: 20, description: 'VMs at most' }),
    vcpus: Type.Integer({
      minimum: 0,
      maximum: 1_000_000,
      default: 64,
      description: 'vCPUs at most, all VMs together',
    }),
    memoryMiB: Type.Integer({ minimum: 0, maximum: 1 << 30, default: 131_072, description: 'MiB of memory at most' }),
    imagesMiB: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1 << 30,
        description: 'MiB of image content kept on the controller (0: no limit); absent: [images] user_quota_mib',
      }),
    ),
  },
  { additionalProperties: false },
);
export type Quota = Static<typeof Quota>;

export const UserName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9._-]*$' });

export const User = Type.Object({
  id: Type.String(),
  name: UserName,
  role: Role,
  quota: Quota,
  createdAt: Type.Integer(),
});
export type User = Static<typeof User>;
