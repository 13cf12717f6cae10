// The host inventory: one retained message per host listing every VM the agent owns (its records and
// the domains carrying its host id), with libvirt's state, the idempotency key of the command that
// created each VM and the hash of the spec it was created from. The controller reconciles against it:
// only a `complete` inventory may prove that a VM is absent from the host.

import { createHash } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Uuid, VmSpec } from '../vm-spec.ts';
import { envelopeOf } from './envelope.ts';

const Int = (description: string) => Type.Integer({ minimum: 0, description });

export const SpecHash = Type.String({
  pattern: '^[0-9a-f]{64}$',
  description: 'sha256 (hex) of the VM spec as the deploy command carried it (protocol/mqtt/inventory.ts specHash)',
});

export const InventoryOperation = Type.Object(
  {
    kind: Type.String({
      maxLength: 32,
      description: 'create, delete, attach, detach, snapshot, save-as',
    }),
    key: Type.Optional(Type.String({ maxLength: 200, description: 'Idempotency key of the command, when any' })),
    phase: Type.Union([Type.Literal('running'), Type.Literal('resuming'), Type.Literal('undoing')], {
      description: 'running: in progress; resuming / undoing: interrupted by a crash, being finished or rolled back',
    }),
    since: Int('When the operation began, ms since the epoch'),
  },
  { description: 'A multi-step operation of the agent journal that has not finished on this VM' },
);
export type InventoryOperation = Static<typeof InventoryOperation>;

export const InventoryVm = Type.Object(
  {
    vm: Uuid,
    name: Type.String({ maxLength: 63 }),
    state: Type.String({
      maxLength: 32,
      description:
        'libvirt power state (running, paused, shutoff, crashed, pmsuspended, ...); missing when the domain is not defined',
    }),
    desired: Type.Union([Type.Literal('running'), Type.Literal('stopped')], {
      description: 'What the agent keeps the VM at',
    }),
    key: Type.Optional(
      Type.String({
        maxLength: 200,
        description: 'Idempotency key (attempt) of the deploy that created the VM; absent when made without one',
      }),
    ),
    specHash: Type.Optional(SpecHash),
    operation: Type.Optional(InventoryOperation),
    createdAt: Int('When the agent recorded the VM, ms since the epoch'),
  },
  { additionalProperties: true },
);
export type InventoryVm = Static<typeof InventoryVm>;

export const UnclaimedDomain = Type.Object(
  {
    vm: Uuid,
    name: Type.String({ maxLength: 255, description: 'libvirt domain name' }),
    state: Type.String({ maxLength: 32, description: 'libvirt power state' }),
    key: Type.Optional(Type.String({ maxLength: 200, description: 'Attempt key recorded in the domain metadata' })),
    specHash: Type.Optional(SpecHash),
    removeAt: Int('When the agent removes it unless the controller claims it (vm.adopt or a deploy with its key)'),
  },
  { additionalProperties: true },
);
export type UnclaimedDomain = Static<typeof UnclaimedDomain>;

export const HostInventory = envelopeOf(
  {
    complete: Type.Boolean({
      description:
        'true: recovery is done and libvirt was listed, so `vms` is every VM this host has; false: a partial view (recovering, libvirt unreachable): never conclude that a VM is gone from it',
    }),
    generation: Int(
      'Increments at every change of the list (and at every agent start); with `session` orders inventories',
    ),
    vms: Type.Array(InventoryVm, { maxItems: 4096, description: 'Every VM the agent has a record of' }),
    unclaimed: Type.Array(UnclaimedDomain, {
      maxItems: 1024,
      description: 'Domains with this host id in their Stratus metadata and no record: removed after a grace period',
    }),
  },
  'Retained. The whole inventory of the host, republished after every (re)connect and on every change (debounced).',
);
export type HostInventory = Static<typeof HostInventory>;

/** JSON with object keys sorted, so that equal values give equal text whatever the key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The spec hash both sides compute: sha256 of the canonical JSON of the spec sent in `deploy`, with the
 * schema's defaults applied (so a spec and the same spec with defaults spelled out hash alike). The agent
 * hashes the spec as received, before it resolves images, bridges or context CD-ROMs.
 */
export function specHash(spec: unknown): string {
  const full = spec && typeof spec === 'object' ? Value.Default(VmSpec, structuredClone(spec)) : spec;
  return createHash('sha256').update(canonical(full)).digest('hex');
}
