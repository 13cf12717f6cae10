// Decoding MQTT payloads at the edge: size limit, JSON, schema version, schema. Every failure is a
// MalformedMessageError naming the reason, which receivers log and count before dropping the message.

import type { Static, TSchema } from '@sinclair/typebox';
import { StratusError } from '../../common/errors.ts';
import { checks, problems } from '../../common/validate.ts';
import { PROTOCOL_VERSION } from './topics.ts';

export type MalformedReason = 'oversized' | 'bad-json' | 'bad-version' | 'bad-schema' | 'bad-topic';

export class MalformedMessageError extends StratusError {
  constructor(
    readonly reason: MalformedReason,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super('STRATUS_ERR_MALFORMED_MESSAGE', message, { status: 400, details: { reason, ...details } });
  }
}

export const DEFAULT_MAX_PAYLOAD = 256 * 1024;

export function decode<T extends TSchema>(schema: T, payload: Buffer, maxBytes = DEFAULT_MAX_PAYLOAD): Static<T> {
  if (payload.length > maxBytes) {
    throw new MalformedMessageError('oversized', `payload of ${payload.length} bytes exceeds ${maxBytes}`, {
      bytes: payload.length,
      maxBytes,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new MalformedMessageError('bad-json', `payload is not JSON: ${(err as Error).message}`);
  }
  const v = (value as { v?: unknown } | null)?.v;
  if (v !== PROTOCOL_VERSION) {
    throw new MalformedMessageError('bad-version', `schema version ${JSON.stringify(v)} is not ${PROTOCOL_VERSION}`, {
      v,
    });
  }
  // the compiled check is the hot path (thousands of messages a second at fleet scale); the error walk,
  // many times slower, runs only for a message that fails it
  if (checks(schema, value)) return value as Static<T>;
  const list = problems(schema, value);
  throw new MalformedMessageError(
    'bad-schema',
    list.map((p) => `${p.path}: ${p.message}`).join('; ') || 'payload does not match the schema',
    { problems: list },
  );
}

export function encode(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
