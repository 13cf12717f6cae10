// Local API routes for volumes attached to this host's VMs: the host's iSCSI identity (the controller
// puts it in the target's ACL), list, attach (hot-plug when the VM runs) and detach (hot-unplug). The
// controller sends the same requests as MQTT commands (volume.info, volume.attach, volume.detach).

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import { validate } from '../../common/validate.ts';
import { Uuid } from '../../protocol/ids.ts';
import { VolumeAttachment } from '../../protocol/volume.ts';
import { type Operations, quietContext } from '../operations.ts';
import type { VolumeAttacher } from '../volumes/attacher.ts';

const Params = Type.Object({ id: Uuid, volumeId: Type.Optional(Uuid) });

export function volumeRoutes(volumes: VolumeAttacher, ops: Operations): Router {
  const r = Router();
  const params = (p: unknown) => validate(Params, p, 'path');

  r.get('/host/iscsi', async (_req, res) => {
    res.json(await ops['volume.info']({}, quietContext()));
  });

  r.get('/vms/:id/volumes', (req, res) => {
    res.json({ items: volumes.list(params(req.params).id) });
  });

  r.post('/vms/:id/volumes', async (req, res) => {
    const attachment = validate(VolumeAttachment, req.body ?? {}, 'volume attachment');
    res.json(await ops['volume.attach']({ vm: params(req.params).id, attachment }, quietContext()));
  });

  r.delete('/vms/:id/volumes/:volumeId', async (req, res) => {
    const p = params(req.params);
    res.json(await ops['volume.detach']({ vm: p.id, volume: p.volumeId! }, quietContext()));
  });

  return r;
}
