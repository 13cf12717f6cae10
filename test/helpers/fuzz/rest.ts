// The REST fuzzer: every operation of the controller's OpenAPI document (/v1/openapi.json), called with
// path parameters, query strings and bodies built from the operation's own schemas and then made hostile
// (values.ts), or with bodies that are not JSON at all (truncated, prototype keys, oversized, the wrong
// content type), by every kind of caller. Properties checked on each case: the answer is not a 5xx, the
// controller process is still running, and a refused request (4xx) left every table's row count as it was.
import fc from 'fast-check';
import { fromSchema, mutate, nastyString, nastyValue, protoPollution } from './values.ts';
import type { FuzzWorld } from './world.ts';

type Schema = Record<string, unknown>;

/** A request without an answer after this long counts as a server error (a hang). */
const REQUEST_TIMEOUT_MS = 20_000;

export interface Operation {
  method: string;
  /** OpenAPI path, e.g. /v1/vms/{id} */
  path: string;
  params: { name: string; in: 'path' | 'query'; schema: Schema }[];
  body?: Schema;
  raw: boolean;
}

export function operations(doc: Schema): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc['paths'] as Record<string, Record<string, Schema>>)) {
    for (const [method, op] of Object.entries(item)) {
      const content = (op['requestBody'] as Schema | undefined)?.['content'] as Record<string, Schema> | undefined;
      out.push({
        method: method.toUpperCase(),
        path,
        params: (op['parameters'] ?? []) as Operation['params'],
        body: content?.['application/json']?.['schema'] as Schema | undefined,
        raw: !!content?.['application/octet-stream'],
      });
    }
  }
  return out;
}

export type Caller = 'anonymous' | 'garbage' | 'userA' | 'userB' | 'admin';

export interface RestCase {
  op: number;
  caller: Caller;
  params: Record<string, string>;
  query: Record<string, string>;
  /** JSON value to send, or raw text (not necessarily JSON), or nothing. */
  body: { kind: 'json'; value: unknown } | { kind: 'text'; text: string; type: string } | { kind: 'none' };
}

export interface Finding {
  what: 'server_error' | 'crash' | 'created_by_invalid';
  request: string;
  status?: number;
  detail: string;
}

export interface RestStats {
  cases: number;
  statuses: Record<string, number>;
  server_errors: number;
  crashes: number;
  created_by_invalid: number;
  /** Connections the controller closed without an answer (oversized bodies); not a failure by itself. */
  resets: number;
  findings: Finding[];
}

/** Arbitrary of REST cases for these operations; `ids` are existing resource ids used half of the time. */
export function restCase(ops: Operation[], doc: Schema, ids: string[]): fc.Arbitrary<RestCase> {
  const paramValue = (s: Schema) =>
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...ids) },
      { weight: 2, arbitrary: fromSchema(s, doc).map(String) },
      { weight: 3, arbitrary: nastyString },
    );
  const caller = fc.constantFrom<Caller>('admin', 'admin', 'userA', 'userA', 'userB', 'anonymous', 'garbage');
  const perOp = ops.map((op, i) => {
    const pathParams = op.params.filter((p) => p.in === 'path');
    const queryParams = op.params.filter((p) => p.in === 'query');
    const params = fc.record(Object.fromEntries(pathParams.map((p) => [p.name, paramValue(p.schema)])));
    const query = fc.record(
      Object.fromEntries(
        queryParams.map((p) => [p.name, fc.oneof(fromSchema(p.schema, doc).map(String), nastyString)]),
      ),
      { requiredKeys: [] },
    );
    const jsonBody = op.body ? mutate(fromSchema(op.body, doc)) : nastyValue;
    const validText = op.body ? fromSchema(op.body, doc).map((v) => JSON.stringify(v) ?? '') : fc.constant('{}');
    const body = fc.oneof(
      { weight: 6, arbitrary: jsonBody.map((value) => ({ kind: 'json' as const, value })) },
      {
        weight: 1,
        arbitrary: fc.tuple(validText, fc.nat()).map(([t, n]) => ({
          kind: 'text' as const,
          text: t.slice(0, n % Math.max(1, t.length)),
          type: 'application/json',
        })),
      },
      {
        weight: 1,
        arbitrary: protoPollution.map((text) => ({ kind: 'text' as const, text, type: 'application/json' })),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(
            nastyString,
            fc.constantFrom(
              'application/json',
              'text/plain',
              'application/octet-stream',
              'application/x-www-form-urlencoded',
              '',
            ),
          )
          .map(([text, type]) => ({ kind: 'text' as const, text, type })),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
    );
    return fc.record({ op: fc.constant(i), caller, params, query, body }) as fc.Arbitrary<RestCase>;
  });
  return fc.oneof(...perOp);
}

/** Percent-encodes the UTF-8 bytes of `s` (lone surrogates become U+FFFD, as they would on the wire). */
function enc(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(b);
    out += /[A-Za-z0-9._~-]/.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function render(op: Operation, k: RestCase): string {
  const path = op.path.replace(/\{([A-Za-z]+)\}/g, (_m, name: string) => enc(k.params[name] ?? ''));
  const qs = new URLSearchParams(k.query).toString();
  return qs ? `${path}?${qs}` : path;
}

/** Runs the cases one after the other (the database comparison needs that) and counts what went wrong. */
export async function runRestCases(
  w: FuzzWorld,
  ops: Operation[],
  cases: RestCase[],
  stats: RestStats = newRestStats(),
  progress?: (s: RestStats) => void,
): Promise<RestStats> {
  let before = w.counts();
  for (const k of cases) {
    const op = ops[k.op]!;
    const url = render(op, k);
    const headers: Record<string, string> = {};
    const token =
      k.caller === 'anonymous'
        ? undefined
        : k.caller === 'garbage'
          ? 'st_garbage_token_0123456789'
          : w.fx.tokens[k.caller];
    if (token) headers['authorization'] = `Bearer ${token}`;
    let payload: string | undefined;
    if (k.body.kind === 'json') {
      payload = JSON.stringify(k.body.value) ?? 'null';
      headers['content-type'] = op.raw ? 'application/octet-stream' : 'application/json';
    } else if (k.body.kind === 'text') {
      payload = k.body.text;
      if (k.body.type) headers['content-type'] = k.body.type;
    }
    if (op.method === 'GET' || op.method === 'HEAD') payload = undefined;
    const request = `${op.method} ${url} as ${k.caller}${payload !== undefined ? ` body ${payload.slice(0, 300)}` : ''}`;
    stats.cases++;
    let status: number | undefined;
    let title = '';
    try {
      const res = await fetch(w.c.url + url, {
        method: op.method,
        headers,
        body: payload ?? null,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      status = res.status;
      const text = await res.text();
      title = text.slice(0, 300);
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') {
        stats.server_errors++;
        stats.findings.push({ what: 'server_error', request, detail: `no answer within ${REQUEST_TIMEOUT_MS} ms` });
        continue;
      }
      if (!w.alive()) {
        stats.crashes++;
        stats.findings.push({ what: 'crash', request, detail: w.c.output().slice(-2000) });
        return stats;
      }
      stats.resets++;
      void err;
    }
    if (status !== undefined) {
      stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
      if (status >= 500) {
        stats.server_errors++;
        stats.findings.push({ what: 'server_error', request, status, detail: title });
      }
    }
    if (!w.alive()) {
      stats.crashes++;
      stats.findings.push({ what: 'crash', request, status, detail: w.c.output().slice(-2000) });
      return stats;
    }
    const after = w.counts();
    if (status === undefined || status >= 400) {
      const changed = Object.keys({ ...before, ...after }).filter((t) => (after[t] ?? 0) > (before[t] ?? 0));
      if (changed.length) {
        stats.created_by_invalid++;
        stats.findings.push({
          what: 'created_by_invalid',
          request,
          status,
          detail: changed.map((t) => `${t}: ${before[t] ?? 0} → ${after[t]}`).join(', '),
        });
      }
    }
    before = after;
    if (stats.cases % 500 === 0) progress?.(stats);
  }
  return stats;
}

export function newRestStats(): RestStats {
  return { cases: 0, statuses: {}, server_errors: 0, crashes: 0, created_by_invalid: 0, resets: 0, findings: [] };
}

/** Fetches the OpenAPI document and runs `n` seeded cases over all its operations. */
export async function fuzzRest(
  w: FuzzWorld,
  n: number,
  seed: number,
  progress?: (s: RestStats) => void,
): Promise<RestStats & { operations: number }> {
  const doc = (await (await fetch(`${w.c.url}/v1/openapi.json`)).json()) as Schema;
  const ops = operations(doc);
  const ids = [w.fx.vm, w.fx.image, w.fx.volume, w.fx.network, w.fx.userA.id, w.fx.userB.id, w.fx.type, 'fuzz-image'];
  const cases = fc.sample(restCase(ops, doc, ids), { numRuns: n, seed });
  const stats = await runRestCases(w, ops, cases, newRestStats(), progress);
  return { ...stats, operations: ops.length };
}
