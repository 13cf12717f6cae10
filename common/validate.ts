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

/** Returns `value` typed by `schema`, or throws a ValidationError naming every bad field. */
export function validate<T extends TSchema>(schema: T, input: unknown, what = 'request'): Static<T> {
  // defaults are filled in on a copy: the caller's object is never changed
  const value = input !== null && typeof input === 'object' ? Value.Default(schema, structuredClone(input)) : input;
  if (compiled(schema).Check(value)) return value as Static<T>;
  const list = problems(schema, value);
  const text = list.map((p) => `${p.path}: ${p.message}`).join('; ');
  throw new ValidationError(`invalid ${what}: ${text}`, { problems: list });
}
