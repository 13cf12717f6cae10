// Local API routes for volumes attached to this host's VMs: the host's iSCSI identity (the controller
// puts it in the target's ACL), list, attach (hot-plug when the VM runs) and detach (hot-unplug). The
// controller sends the same requests as MQTT commands (volume.info, volume.attach, volume.detach).

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import { validate } from '../../common/validate.ts';
import { Uuid } from '../../protocol/vm-spec.ts';
import type { VolumeAttacher } from '../volumes/attacher.ts';

const Params = Type.Object({ id: Uuid, volumeId: Type.Optional(Uuid) });

export function volumeRoutes(volumes: VolumeAttacher): Router {
  const r = Router();
  const params = (p: unknown) => validate(Params, p, 'path');

  r.get('/host/iscsi', (_req, res) => {
    res.json(volumes.info());
  });

  r.get('/vms/:id/volumes', (req, res) => {
    res.json({ items: volumes.list(params(req.params).id) });
  });

  r.post('/vms/:id/volumes', async (req, res) => {
    res.json(await volumes.attach(params(req.params).id, req.body ?? {}));
  });

  r.delete('/vms/:id/volumes/:volumeId', async (req, res) => {
    const p = params(req.params);
    res.json(await volumes.detach(p.id, p.volumeId!));
  });

  return r;
}
