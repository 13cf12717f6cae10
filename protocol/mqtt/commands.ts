// Commands from the controller to a host and the host's replies. A command carries a correlation id
// (matches replies), an idempotency key (the agent runs a key once, however often the command is
// delivered, and answers repeats with the recorded outcome) and a deadline (a command received after
// it is not run). Long commands send progress replies before their result.

import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { VmActionRequest } from '../agent-api.ts';
import { Uuid, VmSpec } from '../vm-spec.ts';
import { VolumeAttachment } from '../volume.ts';
import { envelopeOf } from './envelope.ts';
import { PROTOCOL_VERSION } from './topics.ts';

export const CommandName = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[a-z][a-z0-9.-]*$',
  description: 'Command name; also the last topic level',
});

export const CorrelationId = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9._-]+$',
  description: 'Correlation id chosen by the sender; the reply topic ends with it',
});

export const Command = Type.Object(
  {
    v: Type.Literal(PROTOCOL_VERSION),
    ts: Type.Integer({ minimum: 0, description: 'When the command was sent, ms since the epoch' }),
    id: CorrelationId,
    key: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'Idempotency key: the agent runs each key at most once and replays its outcome',
    }),
    command: CommandName,
    args: Type.Unknown({ description: 'Arguments, validated by the schema of the command' }),
    deadline: Type.Integer({ minimum: 0, description: 'Not started after this time (ms since the epoch)' }),
  },
  { description: 'A command to one host (QoS 1, not retained), on stratus/v1/cmd/<host>/<command>.' },
);
export type Command = Static<typeof Command>;

/** The typed error object carried by failed replies (StratusError.toJSON()). */
export const ErrorStatus = Type.Object({
  code: Type.String({ description: 'Stable STRATUS_ERR_* code' }),
  message: Type.String(),
  status: Type.Integer({ description: 'The HTTP status the error maps to' }),
  details: Type.Record(Type.String(), Type.Unknown()),
});
export type ErrorStatus = Static<typeof ErrorStatus>;

export const CommandReply = envelopeOf(
  {
    id: CorrelationId,
    key: Type.String({ maxLength: 200 }),
    command: CommandName,
    type: Type.Union([Type.Literal('progress'), Type.Literal('result')]),
    ok: Type.Optional(Type.Boolean({ description: 'result: whether the command succeeded' })),
    result: Type.Optional(Type.Unknown({ description: 'result: what the command returned when ok' })),
    error: Type.Optional(ErrorStatus),
    progress: Type.Optional(
      Type.Object({
        step: Type.String({ maxLength: 200 }),
        pct: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
      }),
    ),
    replayed: Type.Optional(Type.Boolean({ description: 'result: recorded outcome of an earlier delivery' })),
  },
  'Reply to a command (QoS 1) on stratus/v1/hosts/<host>/replies/<id>: progress messages, then one result.',
);
export type CommandReply = Static<typeof CommandReply>;

// Built-in commands: their argument schemas. Others register theirs with the agent's command registry.
export const DeployArgs = Type.Object(
  {
    spec: VmSpec,
    start: Type.Boolean({ default: true, description: 'Start the VM once defined' }),
    volumes: Type.Optional(
      Type.Array(VolumeAttachment, { maxItems: 16, description: 'Volumes attached before the start' }),
    ),
  },
  { additionalProperties: false },
);
export const VmActionArgs = Type.Composite([Type.Object({ vm: Uuid }), VmActionRequest], {
  additionalProperties: false,
});
export const DeleteArgs = Type.Object({ vm: Uuid }, { additionalProperties: false });
export const AdoptArgs = Type.Object(
  {
    spec: VmSpec,
  },
  {
    additionalProperties: false,
    description:
      'Claims an unclaimed domain of this host (listed in the inventory): the spec must hash to the spec hash in its metadata',
  },
);
export const ConsoleArgs = Type.Object(
  { vm: Uuid, bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_048_576, default: 65536 })) },
  { additionalProperties: false },
);

export const POWER_COMMANDS = ['start', 'stop', 'reboot', 'reset', 'suspend', 'resume'] as const;

/** Built-in command names with their argument schemas, for the docs and for typed dispatch. */
export const builtinCommands: Record<string, { args: TSchema; description: string }> = {
  deploy: { args: DeployArgs, description: 'Create a VM from its spec (and start it); result: the VM view' },
  ...Object.fromEntries(
    POWER_COMMANDS.map((a) => [a, { args: VmActionArgs, description: `Power action ${a}; result: the VM view` }]),
  ),
  delete: { args: DeleteArgs, description: 'Delete a VM (destroy, undefine, forget); result: {deleted: id}' },
  'vm.adopt': {
    args: AdoptArgs,
    description:
      'Take over an unclaimed domain of this host whose metadata matches the spec (hash); result: the VM view. A deploy resent with the key that created such a domain adopts it too',
  },
  console: { args: ConsoleArgs, description: 'The tail of a VM serial console log; result: {text}' },
};

export type DeployArgs = Static<typeof DeployArgs>;
export type VmActionArgs = Static<typeof VmActionArgs>;
export type DeleteArgs = Static<typeof DeleteArgs>;
export type ConsoleArgs = Static<typeof ConsoleArgs>;
export type AdoptArgs = Static<typeof AdoptArgs>;
