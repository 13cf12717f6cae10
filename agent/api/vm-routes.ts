// Local API routes for VMs: list, create, show, power actions, delete, console log tail.

import { Router } from 'express';
import { validate } from '../../common/validate.ts';
import { readTail } from '../../drivers/host-fs.ts';
import { ConsoleQuery, CreateVmRequest, VmActionName, VmActionRequest } from '../../protocol/agent-api.ts';
import { Uuid } from '../../protocol/vm-spec.ts';
import type { PowerAction, VmService } from '../vm/vm-service.ts';

export function vmRoutes(vms: VmService): Router {
  const r = Router();
  const id = (raw: string | undefined) => validate(Uuid, raw, 'VM id');

  r.get('/vms', (_req, res) => {
    res.json({ items: vms.list() });
  });

  r.post('/vms', async (req, res) => {
    const body = validate(CreateVmRequest, req.body ?? {}, 'create request');
    const vm = await vms.create(body.spec, body.start ?? true, body.volumes ? { volumes: body.volumes } : {});
    res.status(201).location(`/v1/vms/${vm.id}`).json(vm);
  });

  r.get('/vms/:id', (req, res) => {
    res.json(vms.get(id(req.params.id)));
  });

  r.delete('/vms/:id', async (req, res) => {
    await vms.delete(id(req.params.id));
    res.status(204).end();
  });

  r.post('/vms/:id/:action', async (req, res) => {
    const vmId = id(req.params.id);
    const action = validate(VmActionName, req.params.action, 'action') as PowerAction;
    const body = validate(VmActionRequest, req.body ?? {}, 'action request');
    const opts: { force?: boolean; timeoutMs?: number } = {};
    if (body.force !== undefined) opts.force = body.force;
    if (body.timeoutS !== undefined) opts.timeoutMs = body.timeoutS * 1000;
    res.json(await vms.act(vmId, action, opts));
  });

  r.get('/vms/:id/console', async (req, res) => {
    const vm = vms.get(id(req.params.id));
    const q = validate(ConsoleQuery, { bytes: req.query['bytes'] ? Number(req.query['bytes']) : undefined }, 'query');
    res.type('text/plain').send(await readTail(vm.consoleLog, q.bytes ?? 65536));
  });

  return r;
}
