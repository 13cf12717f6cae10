// A host as the REST API shows it (/v1/hosts): what its agent reports (capacity, load, cached images),
// what the scheduler has committed to it, and the admin's settings (enabled, cluster, features).
// Shared by the controller's routes and the CLI's tables.

import { type Static, Type } from '@sinclair/typebox';

export const Host = Type.Object({
  id: Type.String(),
  up: Type.Boolean(),
  enabled: Type.Boolean(),
  reason: Type.String(),
  cluster: Type.String(),
  features: Type.Array(Type.String()),
  arch: Type.String(),
  cpus: Type.Integer(),
  memoryMiB: Type.Integer(),
  usedVcpus: Type.Integer(),
  usedMemoryMiB: Type.Integer(),
  diskBytes: Type.Optional(
    Type.Integer({ description: 'What VM disks may take on the host (free + instance disks); absent: not reported' }),
  ),
  usedDiskBytes: Type.Optional(
    Type.Integer({ description: 'Virtual sizes of the root, volatile and swap disks of the VMs placed on it' }),
  ),
  load: Type.Number(),
  cachedImages: Type.Array(Type.String()),
});
export type Host = Static<typeof Host>;
