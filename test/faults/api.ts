// REST calls of the fault-injection suite: each with a deadline, never throwing; a refused connection,
// a timeout (a frozen controller) or a 5xx is an answer like any other, since operations may fail
// while a component is down.
import { ADMIN_TOKEN } from '../helpers/controller-process.ts';

export interface Answer {
  /** HTTP status, or 0 when there was none (refused, reset, timed out). */
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: the suite reads arbitrary JSON answers
  body: any;
}

export async function call(base: string, method: string, path: string, body?: unknown, timeoutMs = 20_000) {
  try {
    const res = await fetch(base + path, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // a text body
    }
    return { status: res.status, body: parsed } as Answer;
  } catch (err) {
    return { status: 0, body: { error: (err as Error).message } } as Answer;
  }
}
