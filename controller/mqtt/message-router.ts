// Routes what the controller's MQTT client receives: command replies go to the agent client, which
// matches them to the commands waiting for them; everything else hosts publish (status, info, metrics,
// VM states, events) goes to the fleet ingest. Bad replies are dropped with a logged reason.

import type { Logger } from 'pino';
import { asStratusError } from '../../common/errors.ts';
import { CommandReply, decode, MalformedMessageError, parseTopic } from '../../protocol/mqtt/index.ts';
import type { FleetIngest } from '../fleet/ingest.ts';
import type { AgentClient } from './agent-client.ts';

export interface MessageRouterOptions {
  ingest: FleetIngest;
  agents: AgentClient;
  log: Logger;
  maxPayloadBytes: number;
}

export class MessageRouter {
  /** Replies dropped, by reason (bad JSON, schema, a host answering for another). */
  readonly droppedReplies = new Map<string, number>();

  constructor(private readonly o: MessageRouterOptions) {}

  /** Handles one message; never throws. */
  handle(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    if (t?.kind !== 'reply') {
      this.o.ingest.handle(topic, payload);
      return;
    }
    try {
      const r = decode(CommandReply, payload, this.o.maxPayloadBytes);
      if (r.host !== t.host) {
        throw new MalformedMessageError('bad-topic', `payload host "${r.host}" differs from the topic's "${t.host}"`);
      }
      this.o.agents.handleReply(r);
    } catch (err) {
      const e = asStratusError(err);
      const reason = (e.details['reason'] as string | undefined) ?? e.code;
      this.droppedReplies.set(reason, (this.droppedReplies.get(reason) ?? 0) + 1);
      this.o.log.warn({ topic, reason, bytes: payload.length, err: e.message }, 'command reply dropped');
    }
  }
}
