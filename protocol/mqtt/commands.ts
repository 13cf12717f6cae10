// Commands from the controller to a host and the host's replies. A command carries a correlation id
// (matches replies), an idempotency key (the agent runs a key once, however often the command is
// delivered, and answers repeats with the recorded outcome) and a deadline (a command received after
// it is not run). Long commands send progress replies before their result.

import { type Static, Type } from '@sinclair/typebox';
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
