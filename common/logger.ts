// Structured logging (pino, JSON lines on stdout for the journal). Children carry vm, host and request ids.

import { pino, type Logger } from 'pino';

export function createLogger(component: string, level: string, base: Record<string, unknown> = {}): Logger {
  return pino({ name: component, level, base: { component, ...base }, timestamp: pino.stdTimeFunctions.isoTime });
}
