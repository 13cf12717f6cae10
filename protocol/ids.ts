// Identifiers shared by every schema: one UUID pattern (lower-case, canonical 8-4-4-4-12 form), and a
// path-parameter object built from it for the REST routes.

import { Type } from '@sinclair/typebox';

export const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

export const Uuid = Type.String({
  pattern: UUID_PATTERN,
  description: 'Lower-case RFC 4122 UUID',
  errorMessage: 'must be a lower-case UUID such as 3f1c2a9e-1b2c-4d5e-8f90-1234567890ab',
});

/** `{ id }` path parameters of routes addressing one object by UUID; `what` names it in errors. */
export const IdParams = (what: string) =>
  Type.Object({ id: Type.String({ pattern: UUID_PATTERN, errorMessage: `must be ${what} id (UUID)` }) });

const UUID_RE = new RegExp(UUID_PATTERN);

/** Whether `s` is a UUID in the form the schemas accept. */
export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}
