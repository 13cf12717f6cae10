// Local API routes for VM snapshots (create, list, revert, delete) and save-as (a VM disk becomes
// a new image in the cache). Mounted before the VM routes, whose /vms/{id}/{action} would match first.

import { Router } from 'express';
import { validate } from '../../common/validate.ts';
import { CreateSnapshotRequest, RevertSnapshotRequest, SaveAsRequest, SnapshotName } from '../../protocol/image.ts';
import { Uuid } from '../../protocol/vm-spec.ts';
import type { SaveAsService } from '../images/save-as.ts';
import type { SnapshotService } from '../images/snapshots.ts';

export function snapshotRoutes(snapshots: SnapshotService, saveAs: SaveAsService): Router {
  const r = Router();
  const id = (raw: string | undefined) => validate(Uuid, raw, 'VM id');
  const name = (raw: string | undefined) => validate(SnapshotName, raw, 'snapshot name');

  r.get('/vms/:id/snapshots', async (req, res) => {
    res.json({ items: await snapshots.list(id(req.params.id)) });
  });

  r.post('/vms/:id/snapshots', async (req, res) => {
    const vm = id(req.params.id);
    const body = validate(CreateSnapshotRequest, req.body ?? {}, 'snapshot request');
    const s = await snapshots.create(vm, body);
    res.status(201).location(`/v1/vms/${vm}/snapshots/${s.name}`).json(s);
  });

  r.post('/vms/:id/snapshots/:name/revert', async (req, res) => {
    const vm = id(req.params.id);
    const body = validate(RevertSnapshotRequest, req.body ?? {}, 'revert request');
    await snapshots.revert(vm, name(req.params.name), body.state ?? 'snapshot');
    res.json({ items: await snapshots.list(vm) });
  });

  r.delete('/vms/:id/snapshots/:name', async (req, res) => {
    await snapshots.delete(id(req.params.id), name(req.params.name));
    res.status(204).end();
  });

  r.post('/vms/:id/save-as', async (req, res) => {
    const body = validate(SaveAsRequest, req.body ?? {}, 'save-as request');
    const img = await saveAs.saveAs(id(req.params.id), body);
    res.status(201).location(`/v1/images/${img.sha256}`).json(img);
  });

  return r;
}
