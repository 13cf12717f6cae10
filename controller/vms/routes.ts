// REST routes for VMs: create (one or a batch), list, show (with history and why it waits), power
// actions, console log, delete. Other users' VMs: 404 on reads, 403 on actions.

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import { route } from '../api/route.ts';
import { VmContextInput, VmContextView } from '../../protocol/context.ts';
import { IdParams, UUID_PATTERN } from '../../protocol/ids.ts';
import { NicFirewall } from '../../protocol/network.ts';
import { TypeName } from '../catalog/instance-types.ts';
import type { ControllerVmService } from './service.ts';
import { VM_STATES } from './states.ts';
import type { VmRecord, VmStore } from './store.ts';

const Id = IdParams('a VM');

export const CreateVmRequest = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 56,
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
      errorMessage: 'must be 1-56 letters, digits, ".", "-" or "_"',
    }),
    type: TypeName,
    image: Type.String({ minLength: 1, maxLength: 128, description: 'Image id or name' }),
    count: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100, default: 1, description: 'How many VMs (names get -1, -2, ...)' }),
    ),
    cluster: Type.Optional(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' })),
    requiredFeatures: Type.Optional(
      Type.Array(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }), { maxItems: 16 }),
    ),
    antiAffinityGroup: Type.Optional(
      Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._-]+$', description: 'VMs of one group never share a host' }),
    ),
    nics: Type.Optional(
      Type.Array(
        Type.Object(
          {
            network: Type.String({ minLength: 1, maxLength: 64, description: 'Network id or name' }),
            firewall: Type.Optional(NicFirewall),
          },
          { additionalProperties: false },
        ),
        { maxItems: 8, description: 'NICs in order; without it, one NIC on [network] default_network if set' },
      ),
    ),
    volumes: Type.Optional(
      Type.Array(Type.String({ pattern: UUID_PATTERN, errorMessage: 'must be a volume id (UUID)' }), {
        maxItems: 8,
        description: 'Volumes attached before the VM starts (count must be 1)',
      }),
    ),
    context: Type.Optional(VmContextInput),
  },
  { additionalProperties: false },
);

export const Vm = Type.Object({
  id: Type.String(),
  name: Type.String(),
  owner: Type.String(),
  type: Type.String(),
  vcpus: Type.Integer(),
  memoryMiB: Type.Integer(),
  diskGiB: Type.Integer(),
  image: Type.String(),
  state: Type.Union(VM_STATES.map((s) => Type.Literal(s))),
  reason: Type.String({ description: 'Why the VM is in its state; for a pending VM, why it waits' }),
  host: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Integer(),
  placement: Type.Record(Type.String(), Type.Unknown()),
  nics: Type.Array(Type.Object({ network: Type.String(), firewall: Type.Optional(Type.Unknown()) })),
  volumes: Type.Array(Type.String()),
  observed: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.Integer(),
  updatedAt: Type.Integer(),
  addresses: Type.Optional(Type.Array(Type.String(), { description: "The VM's IP addresses, first NIC first" })),
  context: Type.Optional(VmContextView),
});

/** Fields other features add to a VM's view (its addresses, its context summary). */
export type VmViewExtra = (vm: VmRecord) => Record<string, unknown>;

export function vmView(vm: VmRecord) {
  return {
    id: vm.id,
    name: vm.name,
    owner: vm.ownerName,
    type: vm.type,
    vcpus: vm.vcpus,
    memoryMiB: vm.memoryMiB,
    diskGiB: vm.diskGiB,
    image: vm.imageId,
    state: vm.state,
    reason: vm.reason,
    host: vm.hostId,
    attempts: vm.attempts,
    placement: vm.placement,
    nics: vm.nics,
    volumes: vm.volumes,
    observed: vm.observed,
    createdAt: vm.createdAt,
    updatedAt: vm.updatedAt,
  };
}

export function vmRoutes(vms: ControllerVmService, store: VmStore, extras: VmViewExtra[] = []): Router {
  const r = Router();
  const view = (vm: VmRecord) => Object.assign(vmView(vm), ...extras.map((x) => x(vm)));
  route(
    r,
    {
      method: 'get',
      path: '/vms',
      summary: 'List your VMs (admins: all)',
      tag: 'vms',
      role: 'user',
      response: Type.Object({ items: Type.Array(Vm) }),
    },
    ({ principal }) => ({
      items: vms.list(principal).map(view),
    }),
  );
  route(
    r,
    {
      method: 'post',
      path: '/vms',
      summary: 'Create VMs; the scheduler places them',
      tag: 'vms',
      role: 'user',
      body: CreateVmRequest,
      // context user data and start script of 256 KiB each, extra variables
      bodyLimit: 2 * 1024 * 1024,
      response: Type.Object({ items: Type.Array(Vm) }),
      status: 202,
    },
    ({ body, principal }) => ({
      items: vms.create(body, principal).map(view),
    }),
  );
  route(
    r,
    {
      method: 'get',
      path: '/vms/:id',
      summary: 'Show a VM with its history',
      tag: 'vms',
      role: 'user',
      params: Id,
      response: Type.Composite([Vm, Type.Object({ events: Type.Array(Type.Unknown()) })]),
    },
    ({ params, principal }) => ({ ...view(vms.visible(params.id, principal)), events: store.events(params.id) }),
  );
  for (const action of ['start', 'stop', 'reboot'] as const) {
    route(
      r,
      {
        method: 'post',
        path: `/vms/:id/${action}`,
        summary: `${action[0]!.toUpperCase()}${action.slice(1)} a VM`,
        tag: 'vms',
        role: 'user',
        params: Id,
        ...(action === 'stop'
          ? { body: Type.Object({ force: Type.Optional(Type.Boolean()) }, { additionalProperties: false }) }
          : {}),
        response: Vm,
      },
      async ({ params, principal, body }) =>
        vmView(await vms.act(params.id, action, principal, (body ?? {}) as { force?: boolean })),
    );
  }
  route(
    r,
    {
      method: 'get',
      path: '/vms/:id/console',
      summary: 'The tail of the VM serial console log',
      tag: 'vms',
      role: 'user',
      params: Id,
      query: Type.Object({ bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_048_576 })) }),
    },
    async ({ params, principal, query, res }) => {
      res.type('text/plain').send(await vms.console(params.id, principal, query.bytes ?? 65536));
    },
  );
  route(
    r,
    { method: 'delete', path: '/vms/:id', summary: 'Delete a VM', tag: 'vms', role: 'user', params: Id },
    async ({ params, principal }) => {
      await vms.delete(params.id, principal);
    },
  );
  return r;
}
