// Fields every MQTT payload of protocol v1 carries: the schema version, a timestamp, the host, the
// connection session counter (Sparkplug's bdSeq: a Last Will of an older session never wins over a
// newer "online") and the per-host sequence number (monotonic across agent restarts; lets receivers
// drop duplicates and replays they already applied).

import { type TProperties, Type } from '@sinclair/typebox';
import { PROTOCOL_VERSION, HostId } from './topics.ts';

export const Envelope = {
  v: Type.Literal(PROTOCOL_VERSION, { description: 'Payload schema version' }),
  ts: Type.Integer({ minimum: 0, description: 'Time the message was produced, milliseconds since the epoch' }),
  host: HostId,
  session: Type.Integer({
    minimum: 0,
    description: 'Connection session counter of the agent, incremented at each MQTT connect (as bdSeq)',
  }),
  seq: Type.Integer({ minimum: 0, description: 'Per-host sequence number, monotonic across reconnects and restarts' }),
};

/** An object schema made of the envelope and `props`; unknown fields are allowed (forward compatible). */
export function envelopeOf<P extends TProperties>(props: P, description: string) {
  return Type.Object({ ...Envelope, ...props }, { description });
}
