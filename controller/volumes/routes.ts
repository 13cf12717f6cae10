// REST routes for volumes (`stratus disk ...`): create, list, show, attach, detach, delete, and the
// caller's quota. Users see and act on their own volumes (and VMs); admins on all. Errors are problem+json:
// 409 for an exclusive volume in use elsewhere or a volume in use being deleted, 403 over quota.

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import { route } from '../api/route.ts';
import type { Principal } from '../auth/users.ts';
import {
  AttachVolumeRequest,
  CreateVolumeRequest,
  DetachVolumeRequest,
  Volume,
  VolumeQuota,
  VolumeUsage,
} from '../../protocol/volume.ts';
import { Uuid } from '../../protocol/vm-spec.ts';
import type { VolumeService } from './service.ts';

const IdParam = Type.Object({ id: Uuid });
const OwnerParam = Type.Object({ ownerId: Type.String({ minLength: 1, maxLength: 64 }) });

/** Admins act on every volume; users only on their own. */
const scope = (p: Principal) => (p.role === 'admin' ? undefined : p.id);

export function volumeRoutes(volumes: VolumeService): Router {
  const r = Router();

  route(
    r,
    {
      method: 'get',
      path: '/volumes',
      summary: 'List your volumes (admins: every volume)',
      tag: 'volumes',
      role: 'user',
      response: Type.Object({ items: Type.Array(Volume) }),
    },
    ({ principal }) => ({ items: volumes.list(scope(principal)) }),
  );

  route(
    r,
    {
      method: 'post',
      path: '/volumes',
      summary: 'Create a volume (counted against your volume quota)',
      tag: 'volumes',
      role: 'user',
      body: CreateVolumeRequest,
      response: Volume,
      status: 201,
    },
    async ({ body, principal, res }) => {
      const v = await volumes.create(body, principal.id);
      res.location(`/v1/volumes/${v.id}`);
      return v;
    },
  );

  route(
    r,
    {
      method: 'get',
      path: '/volumes/:id',
      summary: 'Show a volume with its attachments',
      tag: 'volumes',
      role: 'user',
      params: IdParam,
      response: Volume,
    },
    ({ params, principal }) => volumes.get(params.id, scope(principal)),
  );

  route(
    r,
    {
      method: 'post',
      path: '/volumes/:id/attach',
      summary: 'Attach a volume to a VM (hot-plugged when it runs); 409 if exclusive and in use',
      tag: 'volumes',
      role: 'user',
      params: IdParam,
      body: AttachVolumeRequest,
      response: Volume,
    },
    ({ params, body, principal }) => volumes.attach(params.id, body.vmId, scope(principal)),
  );

  route(
    r,
    {
      method: 'post',
      path: '/volumes/:id/detach',
      summary: 'Detach a volume (hot-unplugged from a running VM)',
      tag: 'volumes',
      role: 'user',
      params: IdParam,
      body: DetachVolumeRequest,
      response: Volume,
    },
    ({ params, body, principal }) => volumes.detach(params.id, body.vmId, scope(principal)),
  );

  route(
    r,
    {
      method: 'delete',
      path: '/volumes/:id',
      summary: 'Delete a volume and its data; 409 while it is attached',
      tag: 'volumes',
      role: 'user',
      params: IdParam,
    },
    async ({ params, principal }) => {
      await volumes.delete(params.id, scope(principal));
    },
  );

  route(
    r,
    {
      method: 'get',
      path: '/volume-quota',
      summary: 'Your volume quota and usage',
      tag: 'volumes',
      role: 'user',
      response: VolumeUsage,
    },
    ({ principal }) => volumes.usage(principal.id),
  );

  route(
    r,
    {
      method: 'put',
      path: '/volume-quotas/:ownerId',
      summary: "Set a user's volume quota",
      tag: 'volumes',
      role: 'admin',
      params: OwnerParam,
      body: VolumeQuota,
      response: VolumeUsage,
    },
    ({ params, body }) => volumes.setQuota(params.ownerId, body),
  );

  return r;
}
