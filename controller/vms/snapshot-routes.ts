// REST routes for VM snapshots, carried out by the VM's agent (snapshot.* commands): list, create,
// revert, delete. Reads follow the VM's visibility (404), changes its ownership (403).

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import { CreateSnapshotRequest, RevertSnapshotRequest, SnapshotName } from '../../protocol/image.ts';
import { route } from '../api/route.ts';
import type { ControllerVmService } from './service.ts';

const Id = Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{36}$', errorMessage: 'must be a VM id (UUID)' }) });
const IdName = Type.Object({ id: Id.properties.id, name: SnapshotName });

export function snapshotRoutes(vms: ControllerVmService): Router {
  const r = Router();
  route(
    r,
    {
      method: 'get',
      path: '/vms/:id/snapshots',
      summary: 'List the snapshots of a VM',
      tag: 'vms',
      role: 'user',
      params: Id,
    },
    ({ params, principal }) => vms.hostCommand(params.id, principal, 'snapshot.list', {}, false),
  );
  route(
    r,
    {
      method: 'post',
      path: '/vms/:id/snapshots',
      summary: 'Take a snapshot (running or stopped VM)',
      tag: 'vms',
      role: 'user',
      params: Id,
      body: CreateSnapshotRequest,
      status: 201,
    },
    ({ params, principal, body }) => vms.hostCommand(params.id, principal, 'snapshot.create', body, true),
  );
  route(
    r,
    {
      method: 'post',
      path: '/vms/:id/snapshots/:name/revert',
      summary: 'Revert a VM to a snapshot',
      tag: 'vms',
      role: 'user',
      params: IdName,
      body: RevertSnapshotRequest,
    },
    ({ params, principal, body }) =>
      vms.hostCommand(params.id, principal, 'snapshot.revert', { name: params.name, ...body }, true),
  );
  route(
    r,
    {
      method: 'delete',
      path: '/vms/:id/snapshots/:name',
      summary: 'Delete a snapshot',
      tag: 'vms',
      role: 'user',
      params: IdName,
    },
    async ({ params, principal }) => {
      await vms.hostCommand(params.id, principal, 'snapshot.delete', { name: params.name }, true);
    },
  );
  return r;
}
