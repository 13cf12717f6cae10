// Runs an authorization matrix (test/controller/api/authz-matrix.ts) against a fuzz world: each row is a
// request, each caller a column with the status it must get. Placeholders in a row's URL name the world's
// resources ({vm}, {image}, {volume}, {network}, {userA}, {type}); a `!` ({vm!}) asks for a fresh resource
// of that kind, owned by user A, made for this cell only, so that destructive requests leave the others
// intact. Requests are sent in the order of CALLERS, so a mutation by one caller cannot hide another's
// refusal.
import type { FuzzWorld } from './world.ts';

export const CALLERS = ['anonymous', 'badToken', 'userA', 'userB', 'admin'] as const;
export type MatrixCaller = (typeof CALLERS)[number];

export interface MatrixRow {
  /** The operation as the OpenAPI document names it (`GET /v1/vms/{id}`), or a route outside it. */
  op: string;
  /** Path after the API root, with placeholders. */
  url: string;
  body?: unknown;
  /** Raw body (uploads) instead of JSON. */
  raw?: string;
  expect: Record<MatrixCaller, number>;
}

/** A row: statuses in the order of CALLERS (anonymous, bad token, user A, user B, admin). */
export function row(op: string, url: string, body: unknown, ...s: number[]): MatrixRow {
  if (s.length !== CALLERS.length) throw new Error(`${op}: ${s.length} statuses for ${CALLERS.length} callers`);
  return {
    op,
    url,
    ...(body === undefined ? {} : { body }),
    expect: Object.fromEntries(CALLERS.map((c, i) => [c, s[i]!])) as MatrixRow['expect'],
  };
}

export interface Mismatch {
  op: string;
  caller: MatrixCaller;
  url: string;
  expected: number;
  got: number;
  title: string;
}

async function fresh(w: FuzzWorld, kind: string): Promise<string> {
  const n = Math.random().toString(36).slice(2, 8);
  const a = w.fx.tokens.userA;
  const make = async (path: string, body: unknown, token?: string) => {
    const r = await w.c.request('POST', path, body, token);
    if (r.status >= 300) throw new Error(`fresh ${kind}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  switch (kind) {
    case 'vm':
      return (await make('/v1/vms', { name: `m-${n}`, type: 't1.micro', image: w.fx.image }, a)).items[0].id;
    case 'image':
      return (
        await make(
          '/v1/images',
          { name: `i-${n}`, url: 'http://127.0.0.1:9/m.qcow2', sha256: 'b'.repeat(64), format: 'qcow2' },
          a,
        )
      ).id;
    case 'volume':
      return (await make('/v1/volumes', { name: `v-${n}`, sizeGiB: 1 }, a)).id;
    case 'network':
      return (await make('/v1/networks', { name: `n-${n}`, bridge: `brm${n.slice(0, 5)}` })).id;
    case 'type':
      return (await make('/v1/types', { name: `x1.${n}`, vcpus: 1, memoryMiB: 64, diskGiB: 0 })).name;
    default:
      throw new Error(`no fresh ${kind}`);
  }
}

async function resolve(w: FuzzWorld, url: string): Promise<string> {
  const fixed: Record<string, string> = {
    vm: w.fx.vm,
    image: w.fx.image,
    volume: w.fx.volume,
    network: w.fx.network,
    userA: w.fx.userA.id,
    userB: w.fx.userB.id,
    type: w.fx.type,
  };
  let out = url;
  for (const m of url.matchAll(/\{([A-Za-z]+)(!?)\}/g)) {
    const value = m[2] ? await fresh(w, m[1]!) : fixed[m[1]!];
    if (value === undefined) throw new Error(`unknown placeholder ${m[0]} in ${url}`);
    out = out.replace(m[0], value);
  }
  return out;
}

/** Sends every cell of the matrix; returns the cells whose status differs from the table. */
export async function runMatrix(
  w: FuzzWorld,
  rows: readonly MatrixRow[],
): Promise<{ cells: number; mismatches: Mismatch[] }> {
  const mismatches: Mismatch[] = [];
  let cells = 0;
  const tokens: Record<MatrixCaller, string | undefined> = {
    anonymous: undefined,
    badToken: 'st_not_a_valid_token_0000000000',
    userA: w.fx.tokens.userA,
    userB: w.fx.tokens.userB,
    admin: w.fx.tokens.admin,
  };
  for (const r of rows) {
    const [method, ...rest] = r.op.split(' ');
    void rest;
    for (const caller of CALLERS) {
      const url = await resolve(w, r.url);
      const headers: Record<string, string> = {};
      const token = tokens[caller];
      if (token) headers['authorization'] = `Bearer ${token}`;
      let body: string | undefined;
      if (r.raw !== undefined) {
        body = r.raw;
        headers['content-type'] = 'application/octet-stream';
      } else if (r.body !== undefined) {
        body = JSON.stringify(r.body);
        headers['content-type'] = 'application/json';
      }
      const res = await fetch(w.c.url + url, { method, headers, body: body ?? null });
      const text = await res.text();
      cells++;
      if (res.status !== r.expect[caller]) {
        let title = text.slice(0, 200);
        try {
          title = JSON.parse(text).title ?? title;
        } catch {
          // not JSON
        }
        mismatches.push({ op: r.op, caller, url, expected: r.expect[caller], got: res.status, title });
      }
    }
  }
  return { cells, mismatches };
}
