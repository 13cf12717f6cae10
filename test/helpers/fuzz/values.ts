// Arbitraries (fast-check) for fuzzing Stratus's edges: hostile values (wrong types, huge sizes, NUL,
// path traversal, unicode oddities, prototype keys, shell and SQL metacharacters), and values built from
// a JSON Schema (TypeBox / OpenAPI 3.1) that are valid or one mutation away from valid, so that requests
// get past the validator into the handlers as often as they are stopped by it.
import fc from 'fast-check';

type Schema = Record<string, unknown>;

/** Strings that have broken parsers, paths, shells and databases before. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\n',
  '\r\n\r\n',
  '..',
  '../../../../etc/passwd',
  '..%2f..%2f..%2fetc%2fpasswd',
  '%2e%2e/%2e%2e/',
  '/etc/shadow',
  '/proc/self/environ',
  '\\..\\..\\windows',
  'file:///etc/passwd',
  'http://169.254.169.254/latest/meta-data/',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  '%00',
  '%',
  '%zz',
  '\ud800',
  '\udfff',
  '\ufeff',
  '\u202e',
  '\u200b',
  'é',
  'e\u0301',
  '😀',
  '𝕏'.repeat(50),
  '<script>alert(1)</script>',
  "'; DROP TABLE vms; --",
  '" OR 1=1 --',
  '$(reboot)',
  '`id`',
  '; rm -rf /',
  '{{7*7}}',
  '${7*7}',
  'null',
  'undefined',
  'NaN',
  'true',
  '-1',
  '0',
  '1e309',
  '0x10',
  '9007199254740993',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '+',
  '#',
  'a/b',
  'stratus/v1/#',
];

export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map((s) => `${s}\u0000${s}`) },
  { weight: 1, arbitrary: fc.integer({ min: 256, max: 70_000 }).map((n) => 'x'.repeat(n)) },
);

export const nastyNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(-1, 0, -0, 0.5, 1e308, -1e308, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 63, Number.MAX_SAFE_INTEGER + 2),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];

/** Any JSON value, with the nasty ones over-represented. */
export const nastyValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    nastyNumber,
    nastyString,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...PROTO_KEYS), fc.string({ maxLength: 8 })), tie('v'), { maxKeys: 4 }),
  ),
})).v;

/** An object whose own keys include a prototype key (JSON.parse makes "__proto__" an own property). */
export const protoPollution: fc.Arbitrary<string> = fc
  .record({ key: fc.constantFrom(...PROTO_KEYS), inner: fc.constantFrom('{"admin":true}', '{"role":"admin"}', '1') })
  .map(({ key, inner }) => `{"${key}": ${inner}, "name": "x"}`);

function resolveRef(schema: Schema, root: Schema): Schema {
  const ref = schema['$ref'];
  if (typeof ref !== 'string' || !ref.startsWith('#/')) return schema;
  let node: unknown = root;
  for (const part of ref.slice(2).split('/')) node = (node as Schema | undefined)?.[part];
  return (node as Schema | undefined) ?? {};
}

function stringFor(s: Schema): fc.Arbitrary<string> {
  const pattern = s['pattern'];
  if (s['format'] === 'uuid' || (typeof pattern === 'string' && pattern.includes('{8}-')))
    return fc.uuid({ version: 4 });
  const min = (s['minLength'] as number | undefined) ?? 0;
  const max = Math.min((s['maxLength'] as number | undefined) ?? 24, Math.max(min, 24));
  if (typeof pattern === 'string') {
    try {
      return fc.stringMatching(new RegExp(pattern), { size: 'xsmall' }).map((v) => v.slice(0, Math.max(max, 1)));
    } catch {
      // a pattern JavaScript cannot compile: fall through to plain strings
    }
  }
  return fc.string({ minLength: min, maxLength: max });
}

const cache = new WeakMap<Schema, fc.Arbitrary<unknown>>();

/** Values that follow `schema` (mostly: patterns and bounds are aimed at, not guaranteed). */
export function fromSchema(schema: Schema | undefined, root: Schema = {}, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 6) return nastyValue;
  const hit = cache.get(schema);
  if (hit) return hit;
  const arb = build(schema, root, depth);
  cache.set(schema, arb);
  return arb;
}

function build(schema: Schema, root: Schema, depth: number): fc.Arbitrary<unknown> {
  const s = resolveRef(schema, root);
  if ('const' in s) return fc.constant(s['const']);
  if (Array.isArray(s['enum'])) return fc.constantFrom(...(s['enum'] as unknown[]));
  for (const k of ['anyOf', 'oneOf'] as const) {
    const alts = s[k];
    if (Array.isArray(alts) && alts.length)
      return fc.oneof(...alts.map((a) => fromSchema(a as Schema, root, depth + 1)));
  }
  if (Array.isArray(s['allOf']) && s['allOf'].length) {
    const merged: Schema = { type: 'object', properties: {}, required: [] };
    for (const part of s['allOf'] as Schema[]) {
      const p = resolveRef(part, root);
      Object.assign(merged['properties'] as Schema, p['properties'] ?? {});
      (merged['required'] as string[]).push(...((p['required'] as string[] | undefined) ?? []));
    }
    return fromSchema(merged, root, depth + 1);
  }
  const type = Array.isArray(s['type']) ? (s['type'] as string[])[0] : (s['type'] as string | undefined);
  switch (type) {
    case 'string':
      return stringFor(s);
    case 'integer':
      return fc.integer({
        min: Math.max((s['minimum'] as number | undefined) ?? -1000, -(2 ** 31)),
        max: Math.min((s['maximum'] as number | undefined) ?? 100_000, 2 ** 31),
      });
    case 'number':
      return fc.double({
        min: (s['minimum'] as number | undefined) ?? -1e6,
        max: (s['maximum'] as number | undefined) ?? 1e6,
        noNaN: true,
      });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(fromSchema(s['items'] as Schema | undefined, root, depth + 1), {
        minLength: (s['minItems'] as number | undefined) ?? 0,
        maxLength: Math.min((s['maxItems'] as number | undefined) ?? 3, 3),
      });
    case 'object': {
      const props = (s['properties'] ?? {}) as Record<string, Schema>;
      const required = new Set((s['required'] as string[] | undefined) ?? []);
      const parts: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(props)) parts[k] = fromSchema(v, root, depth + 1);
      if (Object.keys(parts).length === 0)
        return fc.dictionary(fc.string({ maxLength: 8 }), nastyValue, { maxKeys: 3 });
      return fc.record(parts, { requiredKeys: [...required].filter((k) => k in parts) });
    }
    default:
      return nastyValue;
  }
}

/** One hostile change to an otherwise well-formed value: a property replaced by a nasty value, a
 * required one dropped, a prototype key added, or the whole value swapped for a nasty one. */
export function mutate(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: valid },
    {
      weight: 4,
      arbitrary: fc.tuple(valid, fc.nat(), nastyValue).map(([v, i, bad]) => {
        if (!v || typeof v !== 'object' || Array.isArray(v)) return bad;
        const keys = Object.keys(v);
        if (!keys.length) return { ...v, [NASTY_STRINGS[i % NASTY_STRINGS.length]!]: bad };
        return { ...v, [keys[i % keys.length]!]: bad };
      }),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(valid, fc.nat()).map(([v, i]) => {
        if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
        const keys = Object.keys(v);
        const out = { ...(v as Schema) };
        if (keys.length) delete out[keys[i % keys.length]!];
        return out;
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid, fc.constantFrom(...PROTO_KEYS))
        .map(([v, k]) =>
          v && typeof v === 'object' && !Array.isArray(v)
            ? JSON.parse(
                `{${JSON.stringify(k)}: {"role": "admin", "admin": true}, ${JSON.stringify(v).slice(1)}`.replace(
                  /, }$/,
                  '}',
                ),
              )
            : v,
        ),
    },
    { weight: 1, arbitrary: nastyValue },
  );
}
