// REST routes for VMs: create (one or a batch), list, show (with history and why it waits), power
// actions, console log, delete. Other users' VMs: 404 on reads, 403 on actions.

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import { route } from '../api/route.ts';
import { IdParams } from '../../protocol/ids.ts';
import { VmViewCache } from './view-cache.ts';
import type { ControllerVmService } from './service.ts';
import type { VmRecord, VmStore } from './store.ts';

const Id = IdParams('a VM');

export { CreateVmRequest, Vm } from '../../protocol/vm.ts';
import { CreateVmRequest, Vm } from '../../protocol/vm.ts';
/**
 * Fields other features add to VM views (addresses, context summary, extra disks). An extra is given all
 * the VMs of one response first, so that it reads what it needs for all of them at once (a list of 1,000
 * VMs is one query per table, not 1,000), and answers the function that adds the fields of each VM.
 */
export type VmViewExtra = (vms: readonly VmRecord[]) => (vm: VmRecord) => Record<string, unknown>;

/** The views of `list` with every extra's fields. */
export function vmViews(list: readonly VmRecord[], extras: readonly VmViewExtra[]) {
  const each = extras.map((x) => x(list));
  return list.map((vm) => Object.assign(vmView(vm), ...each.map((f) => f(vm))));
}

export function vmView(vm: VmRecord) {
  return {
    id: vm.id,
    name: vm.name,
    owner: vm.ownerName,
    type: vm.type,
    vcpus: vm.vcpus,
    memoryMiB: vm.memoryMiB,
    diskGiB: vm.diskGiB,
    volatileGiB: vm.volatileGiB,
    swapMiB: vm.swapMiB,
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

export function vmRoutes(
  vms: ControllerVmService,
  store: VmStore,
  extras: VmViewExtra[] = [],
  viewCache: VmViewCache = new VmViewCache({ ttlMs: 0 }),
): Router {
  const r = Router();
  const view = (vm: VmRecord) => vmViews([vm], extras)[0]!;
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
    ({ principal, res }) => {
      const list = viewCache.get(`${principal.role}:${principal.id}`, () => ({
        items: vmViews(vms.list(principal), extras),
      }));
      // express answers 304 to a matching If-None-Match
      res.set('ETag', list.etag).type('application/json').send(list.body);
    },
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
      items: vmViews(vms.create(body, principal), extras),
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
    ({ params, principal, res }) => {
      const shown = viewCache.get(`${principal.role}:${principal.id}:${params.id}`, () => ({
        ...view(vms.visible(params.id, principal)),
        events: store.events(params.id),
      }));
      res.set('ETag', shown.etag).type('application/json').send(shown.body);
    },
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
