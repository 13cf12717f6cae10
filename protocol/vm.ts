// VMs as the REST API shows and takes them (/v1/vms): the states of the controller's VM state machine
// (which transitions exist is controller/vms/states.ts), the creation request, and the VM view. Shared
// by the controller's routes, the CLI and the dashboard's tests. What an agent runs is vm-spec.ts.

import { type Static, Type } from '@sinclair/typebox';
import { VmContextInput, VmContextView } from './context.ts';
import { UUID_PATTERN } from './ids.ts';
import { TypeName } from './instance-type.ts';
import { NicFirewall } from './network.ts';

export const VM_STATES = [
  'pending',
  'scheduled',
  'deploying',
  'running',
  'stopped',
  'unknown',
  'failed',
  'lost',
  'deleted',
] as const;
export type VmState = (typeof VM_STATES)[number];

/** Bounds of `--volatile-disk`: how many per VM, and the largest, in GiB. */
export const MAX_VOLATILE_DISKS = 8;
export const MAX_VOLATILE_GIB = 4096;

/** One disk of a VM as `vm show` lists it, in the order the guest sees them (vda, vdb, ...). */
export const VmDiskView = Type.Object({
  device: Type.String({ description: 'Guest device name (virtio): vda, vdb, ...' }),
  kind: Type.Union([Type.Literal('root'), Type.Literal('volatile'), Type.Literal('swap'), Type.Literal('readonly')]),
  sizeMiB: Type.Optional(Type.Integer({ description: 'Virtual size; absent: the image size' })),
  image: Type.Optional(Type.String({ description: 'The image (id) of a root or read-only disk' })),
  serial: Type.Optional(Type.String({ description: 'Disk serial the guest sees (/dev/disk/by-id/virtio-<serial>)' })),
});
export type VmDiskView = Static<typeof VmDiskView>;

export const CreateVmRequest = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 56,
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
      errorMessage: 'must be 1-56 letters, digits, ".", "-" or "_"',
    }),
    type: TypeName,
    image: Type.String({ minLength: 1, maxLength: 128, description: 'Image id or name' }),
    count: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100, default: 1, description: 'How many VMs (names get -1, -2, ...)' }),
    ),
    cluster: Type.Optional(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' })),
    requiredFeatures: Type.Optional(
      Type.Array(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }), { maxItems: 16 }),
    ),
    antiAffinityGroup: Type.Optional(
      Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._-]+$', description: 'VMs of one group never share a host' }),
    ),
    nics: Type.Optional(
      Type.Array(
        Type.Object(
          {
            network: Type.String({ minLength: 1, maxLength: 64, description: 'Network id or name' }),
            firewall: Type.Optional(NicFirewall),
          },
          { additionalProperties: false },
        ),
        { maxItems: 8, description: 'NICs in order; without it, one NIC on [network] default_network if set' },
      ),
    ),
    volumes: Type.Optional(
      Type.Array(Type.String({ pattern: UUID_PATTERN, errorMessage: 'must be a volume id (UUID)' }), {
        maxItems: 8,
        description: 'Volumes attached before the VM starts (count must be 1)',
      }),
    ),
    diskGiB: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 65_536,
        description: "Root disk in GiB (grows the image); default: the type's",
      }),
    ),
    volatileDisksGiB: Type.Optional(
      Type.Array(
        Type.Integer({
          minimum: 1,
          maximum: MAX_VOLATILE_GIB,
          errorMessage: `must be an integer from 1 to ${MAX_VOLATILE_GIB} (GiB)`,
        }),
        {
          maxItems: MAX_VOLATILE_DISKS,
          errorMessage: `must be at most ${MAX_VOLATILE_DISKS} sizes in GiB`,
          description: 'Blank disks (GiB each) attached after the root disk and deleted with the VM',
        },
      ),
    ),
    readonlyImages: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
        maxItems: 4,
        description: 'Images (ids or names) attached read-only after the root disk',
      }),
    ),
    context: Type.Optional(VmContextInput),
  },
  { additionalProperties: false },
);
export type CreateVmRequest = Static<typeof CreateVmRequest>;

export const Vm = Type.Object({
  id: Type.String(),
  name: Type.String(),
  owner: Type.String(),
  type: Type.String(),
  vcpus: Type.Integer(),
  memoryMiB: Type.Integer(),
  diskGiB: Type.Integer(),
  volatileGiB: Type.Array(Type.Integer(), { description: 'Volatile disks, GiB each' }),
  swapMiB: Type.Integer({ description: 'Swap disk from the type, MiB; 0: none' }),
  image: Type.String(),
  state: Type.Union(VM_STATES.map((s) => Type.Literal(s))),
  reason: Type.String({ description: 'Why the VM is in its state; for a pending VM, why it waits' }),
  host: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Integer(),
  placement: Type.Record(Type.String(), Type.Unknown()),
  nics: Type.Array(Type.Object({ network: Type.String(), firewall: Type.Optional(Type.Unknown()) })),
  volumes: Type.Array(Type.String()),
  observed: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.Integer(),
  updatedAt: Type.Integer(),
  addresses: Type.Optional(Type.Array(Type.String(), { description: "The VM's IP addresses, first NIC first" })),
  readonlyImages: Type.Optional(Type.Array(Type.String(), { description: 'Images attached read-only (ids)' })),
  disks: Type.Optional(
    Type.Array(VmDiskView, { description: 'Root, volatile, swap and read-only disks in guest order' }),
  ),
  context: Type.Optional(VmContextView),
});
export type Vm = Static<typeof Vm>;
