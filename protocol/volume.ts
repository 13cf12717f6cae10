// Persistent volumes: the REST API's requests and views (controller), and the attachment a controller
// hands to an agent (where the volume is and how to log in). One schema per message, for validation at
// the edges and for the generated docs. Names, IQNs and portals are constrained here so that nothing odd
// reaches tgtadm, iscsiadm or libvirt's XML.

import { type Static, Type } from '@sinclair/typebox';
import { AbsolutePath, Uuid, VmName } from './vm-spec.ts';

export const VOLUME_STATES = [
  'creating',
  'available',
  'attaching',
  'in-use',
  'detaching',
  'deleting',
  'error',
] as const;
export type VolumeState = (typeof VOLUME_STATES)[number];

export const VolumeBackendName = Type.Union([Type.Literal('iscsi'), Type.Literal('file')], {
  description: 'iscsi: a LUN exported by tgtd (file or LVM backed); file: an image on a filesystem every host mounts',
});
export type VolumeBackendName = Static<typeof VolumeBackendName>;

export const VolumeFormat = Type.Union([Type.Literal('raw'), Type.Literal('qcow2')]);

export const Iqn = Type.String({
  maxLength: 223,
  pattern: '^iqn\\.[0-9]{4}-[0-9]{2}\\.[a-z0-9][a-z0-9.-]*(:[A-Za-z0-9.:_-]+)?$',
  description: 'iSCSI qualified name (RFC 3720), e.g. iqn.2024-01.org.example:host1',
  errorMessage: 'must be an iSCSI name such as iqn.2024-01.org.example:host1',
});

export const Portal = Type.String({
  maxLength: 262,
  pattern: '^([A-Za-z0-9][A-Za-z0-9.-]*|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5}$',
  description: 'iSCSI portal host:port ([v6]:port for IPv6)',
  errorMessage: 'must be host:port, e.g. 192.0.2.10:3260',
});

export const VolumeTags = Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:/=+-]+$' }), {
  maxItems: 32,
  uniqueItems: true,
  default: [],
  description: 'Free-form tags (letters, digits, ._:/=+-)',
});

// ---------------------------------------------------------------- REST API (controller)

export const CreateVolumeRequest = Type.Object(
  {
    name: VmName,
    sizeGiB: Type.Integer({ minimum: 1, maximum: 65_536, errorMessage: 'must be an integer from 1 to 65536' }),
    backend: Type.Optional(VolumeBackendName),
    format: Type.Optional(
      Type.Union([Type.Literal('raw'), Type.Literal('qcow2')], {
        description: 'file backend only (default qcow2); iSCSI LUNs are always raw',
      }),
    ),
    shareable: Type.Boolean({ default: false, description: 'May be attached to several VMs at once' }),
    readonly: Type.Boolean({ default: false, description: 'Attached read-only (enforced by the target too)' }),
    tags: VolumeTags,
  },
  { additionalProperties: false },
);
export type CreateVolumeRequest = Static<typeof CreateVolumeRequest>;

export const AttachVolumeRequest = Type.Object(
  { vmId: Uuid },
  { additionalProperties: false, description: 'Attach to this VM (hot-plug when it runs)' },
);

export const DetachVolumeRequest = Type.Object(
  { vmId: Type.Optional(Uuid) },
  { additionalProperties: false, description: 'vmId is required when a shareable volume is attached to several VMs' },
);

export const VolumeAttachmentView = Type.Object({
  vmId: Uuid,
  hostId: Type.String(),
  state: Type.Union([Type.Literal('attaching'), Type.Literal('attached'), Type.Literal('detaching')]),
  device: Type.String({ description: 'Target device in the guest definition (vdb, ...); empty while attaching' }),
  mode: Type.String({ description: 'qemu (QEMU iSCSI initiator), host (iscsiadm) or file' }),
  attachedAt: Type.Integer(),
});

export const Volume = Type.Object({
  id: Uuid,
  name: Type.String(),
  ownerId: Type.String(),
  sizeGiB: Type.Integer(),
  backend: VolumeBackendName,
  format: VolumeFormat,
  shareable: Type.Boolean(),
  readonly: Type.Boolean(),
  tags: Type.Array(Type.String()),
  state: Type.Union(VOLUME_STATES.map((s) => Type.Literal(s))),
  reason: Type.String({ description: 'Why the volume is in error (or the last failure), empty otherwise' }),
  iqn: Type.Optional(Type.String()),
  attachments: Type.Array(VolumeAttachmentView),
  createdAt: Type.Integer(),
  updatedAt: Type.Integer(),
});
export type Volume = Static<typeof Volume>;

export const VolumeQuota = Type.Object(
  {
    volumes: Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Volumes at most' }),
    gib: Type.Integer({ minimum: 0, maximum: 1 << 30, description: 'GiB at most, all volumes together' }),
  },
  { additionalProperties: false },
);
export type VolumeQuota = Static<typeof VolumeQuota>;

export const VolumeUsage = Type.Object({
  ownerId: Type.String(),
  limit: VolumeQuota,
  used: VolumeQuota,
});

// ---------------------------------------------------------------- controller → agent

export const ChapCredentials = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$' }),
    secret: Type.String({ minLength: 12, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' }),
  },
  { additionalProperties: false },
);

export const IscsiSource = Type.Object(
  {
    type: Type.Literal('iscsi'),
    portal: Portal,
    iqn: Iqn,
    lun: Type.Integer({ minimum: 0, maximum: 16_383 }),
    chap: ChapCredentials,
  },
  { additionalProperties: false },
);
export type IscsiSource = Static<typeof IscsiSource>;

export const FileSource = Type.Object(
  {
    type: Type.Literal('file'),
    path: AbsolutePath,
    format: VolumeFormat,
  },
  { additionalProperties: false },
);
export type FileSource = Static<typeof FileSource>;

/** What an agent needs to attach a volume to one of its VMs. */
export const VolumeAttachment = Type.Object(
  {
    volumeId: Uuid,
    source: Type.Union([IscsiSource, FileSource]),
    readonly: Type.Boolean({ default: false }),
    shareable: Type.Boolean({ default: false }),
  },
  { additionalProperties: false, $id: 'VolumeAttachment' },
);
export type VolumeAttachment = Static<typeof VolumeAttachment>;

/** An agent's answer: where the volume now is in the guest. */
export const AttachedVolume = Type.Object({
  vmId: Uuid,
  volumeId: Uuid,
  device: Type.String({ description: 'Target device name in the domain (vdb, ...)' }),
  serial: Type.String({ description: 'Disk serial the guest sees (/dev/disk/by-id/virtio-<serial>)' }),
  mode: Type.Union([Type.Literal('qemu'), Type.Literal('host'), Type.Literal('file')]),
  live: Type.Boolean({ description: 'Hot-plugged into the running guest (false: definition only)' }),
  attachedAt: Type.Integer(),
});
export type AttachedVolume = Static<typeof AttachedVolume>;

export const HostIscsiInfo = Type.Object({
  initiatorName: Iqn,
  mode: Type.Union([Type.Literal('qemu'), Type.Literal('host')]),
});
export type HostIscsiInfo = Static<typeof HostIscsiInfo>;
