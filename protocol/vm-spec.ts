// The VM spec: what the controller asks an agent to run. One schema for the agent's local API, the
// MQTT deploy command and the docs. Names and paths are constrained here so that nothing odd reaches
// libvirt's XML or the host's filesystem.

import { type Static, Type } from '@sinclair/typebox';
import { ImageRef } from './image.ts';
import { ContextRef } from './context.ts';
import { NicNetworkFields } from './network.ts';

export { Uuid } from './ids.ts';
import { Uuid } from './ids.ts';

export const VmName = Type.String({
  minLength: 1,
  maxLength: 63,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: 'Letters, digits, dot, dash and underscore; starts with a letter or digit; at most 63 characters',
  errorMessage: 'must be 1-63 letters, digits, ".", "-" or "_", starting with a letter or digit',
});

export const AbsolutePath = Type.String({
  minLength: 2,
  maxLength: 4096,
  pattern: '^/[^\\x00-\\x1f]*$',
  description: 'Absolute path on the host',
  errorMessage: 'must be an absolute path without control characters',
});

export const BridgeName = Type.String({
  minLength: 1,
  maxLength: 15,
  pattern: '^[A-Za-z0-9_.-]+$',
  description: 'Linux bridge interface name',
  errorMessage: 'must be a Linux interface name (1-15 letters, digits, "_", "." or "-")',
});

export const MacAddress = Type.String({
  pattern: '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$',
  description: 'Lower-case MAC address',
  errorMessage: 'must be a lower-case MAC address such as 52:54:00:12:34:56',
});

const DiskSerial = Type.Optional(Type.String({ maxLength: 20, pattern: '^[A-Za-z0-9_-]*$' }));

/** A disk that is a file already on the host. */
export const PathDiskSpec = Type.Object(
  {
    path: AbsolutePath,
    format: Type.Union([Type.Literal('qcow2'), Type.Literal('raw')], { default: 'qcow2' }),
    readonly: Type.Optional(Type.Boolean()),
    serial: DiskSerial,
  },
  { additionalProperties: false },
);
export type PathDiskSpec = Static<typeof PathDiskSpec>;

/** A disk made from an image: the agent fetches and verifies it if needed, and gives the VM a qcow2 overlay. */
export const ImageDiskSpec = Type.Object(
  {
    image: ImageRef,
    sizeGiB: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 65536, description: "Grow the disk to this size (the instance type's)" }),
    ),
    readonly: Type.Optional(Type.Boolean()),
    serial: DiskSerial,
  },
  { additionalProperties: false },
);
export type ImageDiskSpec = Static<typeof ImageDiskSpec>;

/**
 * A blank disk the agent creates next to the VM's overlays (a sparse qcow2) and deletes with the VM:
 * a volatile disk (`--volatile-disk`) or the swap disk of the instance type (OpenNebula's SWAP disk).
 */
export const BlankDiskSpec = Type.Object(
  {
    blank: Type.Union([Type.Literal('volatile'), Type.Literal('swap')], {
      description: 'volatile: scratch space; swap: meant to be used as swap by the guest',
    }),
    sizeMiB: Type.Integer({ minimum: 1, maximum: 16_777_216, description: 'Virtual size in MiB' }),
    serial: DiskSerial,
  },
  { additionalProperties: false },
);
export type BlankDiskSpec = Static<typeof BlankDiskSpec>;

export const DiskSpec = Type.Union([PathDiskSpec, ImageDiskSpec, BlankDiskSpec], {
  errorMessage:
    'must be {path, format?, readonly?, serial?}, {image: {sha256, url?, format?, ...}, sizeGiB?, readonly?, serial?} or {blank: "volatile"|"swap", sizeMiB, serial?}',
});
export type DiskSpec = Static<typeof DiskSpec>;

export const CdromSpec = Type.Object({ path: AbsolutePath }, { additionalProperties: false });

export const NicSpec = Type.Object(
  {
    bridge: BridgeName,
    mac: MacAddress,
    model: Type.Optional(Type.Union([Type.Literal('virtio'), Type.Literal('e1000')])),
    ...NicNetworkFields,
  },
  { additionalProperties: false },
);

/** A kernel or initrd: a host file, or an image the agent fetches into its cache (as Nova's kernel_id). */
export const BootFile = Type.Union([AbsolutePath, Type.Object({ image: ImageRef }, { additionalProperties: false })], {
  errorMessage: 'must be an absolute path or {image: {sha256, url?}}',
});
export type BootFile = Static<typeof BootFile>;

export const DirectBoot = Type.Object(
  {
    kernel: BootFile,
    initrd: Type.Optional(BootFile),
    cmdline: Type.Optional(Type.String({ maxLength: 2048, pattern: '^[^\\x00-\\x1f]*$' })),
  },
  { additionalProperties: false, description: 'Direct kernel boot (no bootloader)' },
);

export const VmSpec = Type.Object(
  {
    id: Uuid,
    name: VmName,
    vcpus: Type.Integer({ minimum: 1, maximum: 256, errorMessage: 'must be an integer from 1 to 256' }),
    memoryMiB: Type.Integer({ minimum: 16, maximum: 4_194_304, errorMessage: 'must be an integer from 16 to 4194304' }),
    machine: Type.Optional(Type.String({ maxLength: 64, pattern: '^[a-z0-9][a-z0-9._-]*$' })),
    arch: Type.Optional(Type.Literal('x86_64')),
    boot: Type.Optional(DirectBoot),
    disks: Type.Array(DiskSpec, { maxItems: 16, default: [] }),
    cdroms: Type.Array(CdromSpec, { maxItems: 4, default: [] }),
    nics: Type.Array(NicSpec, { maxItems: 8, default: [] }),
    context: Type.Optional(ContextRef),
    labels: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9._/-]{1,63}$' }), Type.String({ maxLength: 256 }), {
        description: 'Free-form labels (owner, project, ...) kept with the VM',
      }),
    ),
  },
  { additionalProperties: false, $id: 'VmSpec' },
);
export type VmSpec = Static<typeof VmSpec>;

export const DesiredPower = Type.Union([Type.Literal('running'), Type.Literal('stopped')]);
export type DesiredPower = Static<typeof DesiredPower>;

/** Power states as reported by an agent (libvirt's, plus `missing` when the domain is gone). */
export const PowerState = Type.Union(
  ['nostate', 'running', 'blocked', 'paused', 'shutdown', 'shutoff', 'crashed', 'pmsuspended', 'missing'].map((s) =>
    Type.Literal(s),
  ),
);
