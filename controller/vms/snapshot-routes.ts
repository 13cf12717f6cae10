// REST routes for what a VM's agent does with its disks: snapshots (snapshot.* commands: list, create,
// revert, delete) and save-as (the disk becomes a new image, uploaded by the agent to this controller).
// Reads follow the VM's visibility (404), changes its ownership (403).

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import { CreateSnapshotRequest, RevertSnapshotRequest, SnapshotName } from '../../protocol/image.ts';
import type { ImageContent } from '../images/content.ts';
import { Image, ImageName, type ImageRecord, type ImageRegistry } from '../images/registry.ts';
import { route } from '../api/route.ts';
import { IdParams } from '../../protocol/ids.ts';
import type { ControllerVmService } from './service.ts';

const Id = IdParams('a VM');
const IdName = Type.Object({ id: Id.properties.id, name: SnapshotName });

export function snapshotRoutes(
  vms: ControllerVmService,
  images: ImageRegistry,
  content: ImageContent,
  saveTimeoutMs: number,
  /** Runs once a saved image's content arrived (the Marketplace signs its entry); a throw undoes the save. */
  onSaved?: (img: ImageRecord) => Promise<unknown>,
): Router {
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
  route(
    r,
    {
      method: 'post',
      path: '/vms/:id/save-as',
      summary: 'Save a VM disk (stopped, or running through a live block copy) as a new image',
      tag: 'vms',
      role: 'user',
      params: Id,
      body: Type.Object(
        {
          name: ImageName,
          disk: Type.Optional(Type.Integer({ minimum: 0, maximum: 15, default: 0 })),
          visibility: Type.Optional(Type.Union([Type.Literal('public'), Type.Literal('private')])),
        },
        { additionalProperties: false },
      ),
      response: Image,
      status: 201,
    },
    async ({ params, principal, body }) => {
      const vm = vms.owned(params.id, principal);
      // the new image boots like the VM's: kernel, initrd and command line come along (as OpenStack's
      // image properties do on a snapshot)
      const source = images.find(vm.imageId);
      const inherited: Record<string, string> = {};
      for (const k of ['os', 'arch', 'kernelImage', 'ramdiskImage', 'cmdline'] as const) {
        const v = source?.[k];
        if (v) inherited[k] = v;
      }
      const img = images.beginUpload(
        { name: body.name, format: 'qcow2', visibility: body.visibility ?? 'private', ...inherited },
        principal,
      );
      try {
        await vms.hostCommand(
          params.id,
          principal,
          'save-as',
          { disk: body.disk ?? 0, name: body.name, uploadUrl: content.uploadUrl(img.id, vm.hostId ?? '') },
          true,
          saveTimeoutMs,
        );
        const uploaded = images.get(img.id);
        if (uploaded.state !== 'available') throw new Error('the agent saved the disk but its upload did not arrive');
        await onSaved?.(uploaded);
        const { ownerId: _o, ...view } = images.get(img.id);
        return view;
      } catch (err) {
        images.forget(img.id);
        await content.remove(img.id);
        throw err;
      }
    },
  );
  return r;
}
