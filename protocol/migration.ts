// Live and cold migration of a VM between hosts: the arguments and results of the MQTT commands the
// controller sends to the source and target agents (agent/vm/migration.ts; listed in the command catalogue) and the REST shapes of `POST /v1/vms/{id}/migrate` and of host
// evacuation.

import { type Static, Type } from '@sinclair/typebox';
import { VolumeAttachment } from './volume.ts';
import { Uuid, VmSpec } from './vm-spec.ts';

export const MigrationTarget = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 128, description: 'Target host id' }),
    peerUri: Type.String({ minLength: 1, maxLength: 1024, description: "libvirt URI of the target's libvirtd" }),
    migrateUri: Type.String({ minLength: 1, maxLength: 1024, description: 'Migration data URI, e.g. tcp://addr' }),
    destXml: Type.String({ minLength: 1, maxLength: 1_048_576, description: 'Domain XML on the target' }),
  },
  { additionalProperties: false },
);
export type MigrationTarget = Static<typeof MigrationTarget>;

/** A volume of a VM as its source host has it in the guest: device and PCI address, kept on the target. */
export const VolumePlacement = Type.Object(
  {
    volumeId: Uuid,
    device: Type.String({ pattern: '^vd[a-z]{1,3}$', description: 'Target device in the domain (vdb, ...)' }),
    address: Type.Optional(
      Type.String({
        maxLength: 512,
        pattern: "^<address( [a-z_]+='[0-9a-zA-Z_.x-]+')+/>$",
        description: "The disk's <address/> element in the source domain",
      }),
    ),
  },
  { additionalProperties: false },
);
export type VolumePlacement = Static<typeof VolumePlacement>;

/** A volume that moves with a VM: how the target reaches it (its ACL already names the target) and where it is. */
export const MigratingVolume = Type.Object(
  { attachment: VolumeAttachment, placement: VolumePlacement },
  { additionalProperties: false },
);
export type MigratingVolume = Static<typeof MigratingVolume>;

export const MigratePrepareArgs = Type.Object(
  {
    spec: VmSpec,
    source: Type.String({ minLength: 1, maxLength: 128, description: 'Source host id' }),
    volumes: Type.Optional(Type.Array(MigratingVolume, { maxItems: 64, description: 'Attached volumes' })),
    live: Type.Optional(
      Type.Boolean({
        description:
          'A live move (the VM runs): the target settles a completed move by itself only when it knows which kind it is',
      }),
    ),
  },
  { additionalProperties: false },
);
export const MigratePerformArgs = Type.Object(
  {
    vm: Uuid,
    target: MigrationTarget,
    bandwidthMiBs: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description: "Bandwidth cap of this migration (else the source's)",
      }),
    ),
  },
  { additionalProperties: false },
);
export const MigrateFinishArgs = Type.Object(
  { vm: Uuid, desired: Type.Union([Type.Literal('running'), Type.Literal('stopped')]) },
  { additionalProperties: false },
);
/** `migrate.check` and `migrate.abort`: one VM. */
export const MigrateAbortArgs = Type.Object({ vm: Uuid }, { additionalProperties: false });

// results of the agent commands (protocol/mqtt/command-catalogue.ts)
export const MigrateCheckResult = Type.Object({
  spec: VmSpec,
  state: Type.String({ description: "The domain's libvirt state" }),
  refusal: Type.Optional(Type.String({ description: 'Why the VM cannot move, when it cannot' })),
  volumes: Type.Optional(Type.Array(VolumePlacement, { description: 'Where its attached volumes are in the guest' })),
});
export const MigratePrepareResult = Type.Object({
  destXml: Type.String(),
  peerUri: Type.String(),
  migrateUri: Type.String(),
});
export const MigratePerformResult = Type.Object({
  vm: Uuid,
  target: Type.String(),
  live: Type.Boolean(),
  durationMs: Type.Number({ minimum: 0 }),
});
export const MigrateFinishResult = Type.Object({
  vm: Uuid,
  state: Type.String(),
  downtimeMs: Type.Optional(Type.Number({ minimum: 0, description: "libvirt's measured downtime of the switch-over" })),
});
export const MigrateAbortResult = Type.Object({
  aborted: Type.Boolean({ description: 'A preparation was there and is removed' }),
  arrived: Type.Optional(
    Type.Boolean({
      description: 'The VM is here: the migration completed (its domain is defined here), so nothing was removed',
    }),
  ),
});
/** `migrate.settle`: the source learns where a VM whose migration ended in doubt is now. */
export const MigrateSettleArgs = Type.Object(
  {
    vm: Uuid,
    moved: Type.Boolean({ description: 'The target has the VM (true) or has nothing of it (false)' }),
  },
  { additionalProperties: false },
);
export const MigrateSettleResult = Type.Object({
  settled: Type.Boolean({ description: 'A migration of the VM was in doubt here and is settled now' }),
  state: Type.Optional(Type.String({ description: "The VM's libvirt state here when it stayed" })),
});
export const MigrateCancelResult = Type.Object({
  cancelled: Type.Boolean({ description: 'A migration of the VM was running on this host and was told to stop' }),
});

/** REST: POST /v1/vms/{id}/migrate */
export const MigrateRequest = Type.Object(
  {
    host: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: 'Target host; default: chosen by the scheduler' }),
    ),
    bandwidthMiBs: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description: "Bandwidth cap of this migration in MiB/s; default: the source host's [migration] bandwidth_mibs",
      }),
    ),
  },
  { additionalProperties: false },
);
export type MigrateRequest = Static<typeof MigrateRequest>;

export const MigrationView = Type.Object({
  vm: Uuid,
  from: Type.String(),
  to: Type.String(),
  live: Type.Boolean(),
  durationMs: Type.Integer({ minimum: 0 }),
  downtimeMs: Type.Optional(Type.Number({ minimum: 0 })),
  stepsMs: Type.Optional(
    Type.Object(
      {
        check: Type.Integer({ minimum: 0 }),
        prepare: Type.Integer({ minimum: 0 }),
        perform: Type.Integer({ minimum: 0 }),
        finish: Type.Integer({ minimum: 0 }),
      },
      { description: 'Wall time of each step as the controller saw it (check, prepare, perform, finish)' },
    ),
  ),
});
export type MigrationView = Static<typeof MigrationView>;

/** REST: POST /v1/hosts/{id}/evacuate */
export const EvacuationView = Type.Object({
  host: Type.String(),
  moved: Type.Array(MigrationView),
  failed: Type.Array(Type.Object({ vm: Uuid, name: Type.String(), reason: Type.String() })),
  disabled: Type.Boolean({ description: 'The host is disabled (it stays so until `host enable`)' }),
});
export type EvacuationView = Static<typeof EvacuationView>;
