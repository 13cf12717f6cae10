// The catalogue of agent commands: every command the controller may send to a host, with its argument
// schema, its result schema, whether it sends progress replies, and which role may send it. The agent's
// registry (`register(name, handler)`) and the controller's `dispatch(host, name, args)` are typed from
// this one table, and docs/mqtt.md is generated from it; a test fails when the agent registers a
// command that is not here, or misses one that is.

import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { CreateVmRequest, VmActionRequest, VmView } from '../agent-api.ts';
import { Uuid } from '../ids.ts';
import { VmSpec } from '../vm-spec.ts';
import {
  CreateSnapshotRequest,
  ImageView,
  RevertSnapshotRequest,
  SaveAsRequest,
  SnapshotName,
  SnapshotView,
} from '../image.ts';
import {
  MigrateAbortArgs,
  MigrateAbortResult,
  MigrateCancelResult,
  MigrateCheckResult,
  MigrateFinishArgs,
  MigrateFinishResult,
  MigratePerformArgs,
  MigratePerformResult,
  MigratePrepareArgs,
  MigratePrepareResult,
  MigrateSettleArgs,
  MigrateSettleResult,
} from '../migration.ts';
import { AttachedVolume, HostIscsiInfo, VolumeAttachment } from '../volume.ts';

export interface CommandDef<A extends TSchema = TSchema, R extends TSchema = TSchema> {
  args: A;
  result: R;
  description: string;
  /** Sends progress replies before its result. */
  progress: boolean;
  /** Broker roles allowed to publish it (the ACL lets only these reach stratus/v1/cmd/#). */
  senders: readonly 'controller'[];
}

const def = <A extends TSchema, R extends TSchema>(
  args: A,
  result: R,
  description: string,
  progress = false,
): CommandDef<A, R> => ({ args, result, description, progress, senders: ['controller'] });

const strict = { additionalProperties: false } as const;

// ------------------------------------------------------------------ argument schemas

/** deploy: the same request as the agent's local `POST /v1/vms`. */
export const DeployArgs = CreateVmRequest;
export const VmActionArgs = Type.Composite([Type.Object({ vm: Uuid }), VmActionRequest], strict);
export const DeleteArgs = Type.Object({ vm: Uuid }, strict);
export const ConsoleArgs = Type.Object(
  { vm: Uuid, bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_048_576, default: 65536 })) },
  strict,
);
/** vm.adopt: the spec must hash (protocol/mqtt/inventory.ts specHash) to the one in the domain metadata. */
export const AdoptArgs = Type.Object({ spec: VmSpec }, strict);
export const SnapshotListArgs = Type.Object({ vm: Uuid }, strict);
export const SnapshotCreateArgs = Type.Composite([Type.Object({ vm: Uuid }), CreateSnapshotRequest], strict);
export const SnapshotRevertArgs = Type.Composite(
  [Type.Object({ vm: Uuid, name: SnapshotName }), RevertSnapshotRequest],
  strict,
);
export const SnapshotDeleteArgs = Type.Object({ vm: Uuid, name: SnapshotName }, strict);
/** save-as: the image is saved, then uploaded to `uploadUrl` (a capability URL of the controller). */
export const SaveAsArgs = Type.Composite(
  [
    Type.Object({
      vm: Uuid,
      uploadUrl: Type.Optional(Type.String({ maxLength: 4096, pattern: '^https?://' })),
    }),
    SaveAsRequest,
  ],
  strict,
);
export const VolumeInfoArgs = Type.Object({}, strict);
export const VolumeAttachArgs = Type.Object({ vm: Uuid, attachment: VolumeAttachment }, strict);
export const VolumeDetachArgs = Type.Object({ vm: Uuid, volume: Uuid }, strict);

export const POWER_COMMANDS = ['start', 'stop', 'reboot', 'reset', 'suspend', 'resume'] as const;
export type PowerCommand = (typeof POWER_COMMANDS)[number];

const power = (a: PowerCommand) => def(VmActionArgs, VmView, `Power action ${a}; result: the VM view`, true);

// ------------------------------------------------------------------ the catalogue

export const commandCatalogue = {
  deploy: def(DeployArgs, VmView, 'Create a VM from its spec (and start it); result: the VM view', true),
  start: power('start'),
  stop: power('stop'),
  reboot: power('reboot'),
  reset: power('reset'),
  suspend: power('suspend'),
  resume: power('resume'),
  delete: def(
    DeleteArgs,
    Type.Object({ deleted: Uuid }),
    'Delete a VM: destroy, undefine, remove its disks and forget it',
    true,
  ),
  'vm.adopt': def(
    AdoptArgs,
    VmView,
    'Take over an unclaimed domain of this host (listed in its inventory) whose metadata matches the spec hash; a deploy resent with the key that created such a domain adopts it too',
    true,
  ),
  console: def(ConsoleArgs, Type.Object({ text: Type.String() }), 'The tail of a VM serial console log'),
  'snapshot.list': def(SnapshotListArgs, Type.Object({ items: Type.Array(SnapshotView) }), "A VM's snapshots"),
  'snapshot.create': def(SnapshotCreateArgs, SnapshotView, 'Take a snapshot (with memory when running)', true),
  'snapshot.revert': def(
    SnapshotRevertArgs,
    Type.Object({ reverted: Type.String() }),
    'Revert a VM to a snapshot',
    true,
  ),
  'snapshot.delete': def(SnapshotDeleteArgs, Type.Object({ deleted: Type.String() }), 'Delete a snapshot'),
  'save-as': def(
    SaveAsArgs,
    ImageView,
    'Save a VM disk as a standalone image (live block copy when running), upload it to uploadUrl',
    true,
  ),
  'volume.info': def(VolumeInfoArgs, HostIscsiInfo, "The host's iSCSI initiator name and attach mode"),
  'volume.attach': def(
    VolumeAttachArgs,
    AttachedVolume,
    'Attach a volume to a VM (hot-plug when it runs, definition otherwise)',
    true,
  ),
  'volume.detach': def(
    VolumeDetachArgs,
    Type.Object({ detached: Type.Boolean() }),
    'Detach a volume (hot-unplug, waits for the guest)',
    true,
  ),
  'migrate.check': def(
    MigrateAbortArgs,
    MigrateCheckResult,
    'Migration, source: the VM spec and power state, and why it cannot move if it cannot',
  ),
  'migrate.prepare': def(
    MigratePrepareArgs,
    MigratePrepareResult,
    'Migration, target: record the incoming VM, install its firewall rules, fetch and verify its images, create its overlays; answers the destination domain XML and URIs',
    true,
  ),
  'migrate.perform': def(
    MigratePerformArgs,
    MigratePerformResult,
    'Migration, source: migrate the VM peer to peer (live when running, overlays copied incrementally), then release it here',
    true,
  ),
  'migrate.finish': def(
    MigrateFinishArgs,
    MigrateFinishResult,
    'Migration, target: the VM arrived and becomes a VM of this host (stopped after a cold move)',
  ),
  'migrate.abort': def(
    MigrateAbortArgs,
    MigrateAbortResult,
    'Migration, target: undo a preparation whose VM never arrived; answers `arrived` when its domain is defined here (the move completed), refused while a transient one exists (still moving)',
  ),
  'migrate.settle': def(
    MigrateSettleArgs,
    MigrateSettleResult,
    'Migration, source: a migration whose outcome was unknown here (libvirt lost mid-move) is settled as the target found it: the copy left here is removed if the VM moved, resumed if it stayed',
  ),
  'migrate.cancel': def(
    MigrateAbortArgs,
    MigrateCancelResult,
    'Migration, source: stop the running migration of a VM (virDomainAbortJob); the VM stays here',
  ),
} as const satisfies Record<string, CommandDef>;

export type CommandCatalogue = typeof commandCatalogue;
export type AgentCommand = keyof CommandCatalogue;
export type CommandArgs<K extends AgentCommand> = Static<CommandCatalogue[K]['args']>;
export type CommandResult<K extends AgentCommand> = Static<CommandCatalogue[K]['result']>;

export const AGENT_COMMANDS = Object.keys(commandCatalogue).sort() as AgentCommand[];

export function isAgentCommand(name: string): name is AgentCommand {
  return Object.hasOwn(commandCatalogue, name);
}

export type DeployArgs = CommandArgs<'deploy'>;
export type VmActionArgs = CommandArgs<'start'>;
export type DeleteArgs = CommandArgs<'delete'>;
export type ConsoleArgs = CommandArgs<'console'>;
export type AdoptArgs = CommandArgs<'vm.adopt'>;
export type VolumeAttachArgs = CommandArgs<'volume.attach'>;
export type VolumeDetachArgs = CommandArgs<'volume.detach'>;
