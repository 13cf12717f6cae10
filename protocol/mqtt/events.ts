// The host event stream: audit records (who asked for what), VM lifecycle transitions and warnings.
// Published with QoS 1, queued by the agent while the broker is unreachable and replayed in order.

import { type Static, Type } from '@sinclair/typebox';
import { envelopeOf } from './envelope.ts';

export const EventSeverity = Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('error')]);

export const HostEvent = envelopeOf(
  {
    kind: Type.String({
      maxLength: 64,
      pattern: '^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)*$',
      description: 'Dotted event kind: vm.state, vm.deleted, command.done, command.failed, agent.warning, ...',
    }),
    severity: EventSeverity,
    message: Type.String({ maxLength: 4096 }),
    vm: Type.Optional(Type.String({ maxLength: 64 })),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  'Host event stream (QoS 1, not retained), replayed in order after a broker outage.',
);
export type HostEvent = Static<typeof HostEvent>;
