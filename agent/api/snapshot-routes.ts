// Local API routes for VM snapshots (create, list, revert, delete) and save-as (a VM disk becomes
// a new image in the cache), through agent/operations.ts as the MQTT commands. Mounted before the VM
// routes, whose /vms/{id}/{action} would match first.

import { Router } from 'express';
import { validate } from '../../common/validate.ts';
import { CreateSnapshotRequest, RevertSnapshotRequest, SaveAsRequest, SnapshotName } from '../../protocol/image.ts';
import { Uuid } from '../../protocol/ids.ts';
import { type Operations, quietContext } from '../operations.ts';

export function snapshotRoutes(ops: Operations): Router {
  const r = Router();
  const id = (raw: string | undefined) => validate(Uuid, raw, 'VM id');
  const name = (raw: string | undefined) => validate(SnapshotName, raw, 'snapshot name');

  r.get('/vms/:id/snapshots', async (req, res) => {
    res.json(await ops['snapshot.list']({ vm: id(req.params.id) }, quietContext()));
  });

  r.post('/vms/:id/snapshots', async (req, res) => {
    const vm = id(req.params.id);
    const body = validate(CreateSnapshotRequest, req.body ?? {}, 'snapshot request');
    const s = await ops['snapshot.create']({ vm, ...body }, quietContext());
    res.status(201).location(`/v1/vms/${vm}/snapshots/${s.name}`).json(s);
  });

  r.post('/vms/:id/snapshots/:name/revert', async (req, res) => {
    const vm = id(req.params.id);
    const body = validate(RevertSnapshotRequest, req.body ?? {}, 'revert request');
    await ops['snapshot.revert']({ vm, name: name(req.params.name), ...body }, quietContext());
    res.json(await ops['snapshot.list']({ vm }, quietContext()));
  });

  r.delete('/vms/:id/snapshots/:name', async (req, res) => {
    await ops['snapshot.delete']({ vm: id(req.params.id), name: name(req.params.name) }, quietContext());
    res.status(204).end();
  });

  r.post('/vms/:id/save-as', async (req, res) => {
    const body = validate(SaveAsRequest, req.body ?? {}, 'save-as request');
    const img = await ops['save-as']({ vm: id(req.params.id), ...body }, quietContext());
    res.status(201).location(`/v1/images/${img.sha256}`).json(img);
  });

  return r;
}
