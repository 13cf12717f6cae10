// Validation at the edges with TypeBox: compiled checkers that turn schema failures into one readable
// ValidationError listing each offending field. The same schemas feed the generated docs and OpenAPI.

import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { ValidationError } from './errors.ts';

const cache = new WeakMap<TSchema, TypeCheck<TSchema>>();

function compiled<T extends TSchema>(schema: T): TypeCheck<T> {
  let c = cache.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    cache.set(schema, c);
  }
  return c as TypeCheck<T>;
}

export interface FieldProblem {
  path: string;
  message: string;
}

export function problems<T extends TSchema>(schema: T, value: unknown): FieldProblem[] {
  const out: FieldProblem[] = [];
  const seen = new Set<string>();
  for (const e of compiled(schema).Errors(value)) {
    const path = e.path || '/';
    if (seen.has(path)) continue; // the first problem of a field is the telling one
    seen.add(path);
    const hint = e.schema['errorMessage'] as string | undefined;
    out.push({ path, message: hint ?? e.message });
    if (out.length >= 10) break;
  }
  return out;
}

/** TypeBox's compiled check can throw on some values of the wrong type (an object where an array is
 * expected, once defaults filled the fields before it: "array is not iterable"): such a value is invalid. */
export function checks(schema: TSchema, value: unknown): boolean {
  try {
    return compiled(schema).Check(value);
  } catch {
    return false;
  }
}

/** Value.Default throws on some values of the wrong type (an object where an array with a default is
 * expected: "array is not iterable"); such a value is checked as it came, and the check below names the field. */
function withDefaults(schema: TSchema, input: object): unknown {
  try {
    return Value.Default(schema, structuredClone(input));
  } catch {
    return structuredClone(input); // the failed attempt may have changed its copy halfway
  }
}

/** Returns `value` typed by `schema`, or throws a ValidationError naming every bad field. */
export function validate<T extends TSchema>(schema: T, input: unknown, what = 'request'): Static<T> {
  // defaults are filled in on a copy: the caller's object is never changed
  const value = input !== null && typeof input === 'object' ? withDefaults(schema, input) : input;
  if (checks(schema, value)) return value as Static<T>;
  let list: FieldProblem[];
  try {
    list = problems(schema, value);
  } catch {
    list = problems(schema, input); // the same TypeBox failure as in checks(): report without defaults
  }
  const text = list.map((p) => `${p.path}: ${p.message}`).join('; ');
  throw new ValidationError(`invalid ${what}: ${text}`, { problems: list });
}
