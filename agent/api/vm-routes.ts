// Local API routes for VMs: list, create, show, power actions, delete, console log tail. Operations go
// through agent/operations.ts, the same entries the MQTT commands run.

import { Router } from 'express';
import { validate } from '../../common/validate.ts';
import { ConsoleQuery, CreateVmRequest, VmActionName, VmActionRequest } from '../../protocol/agent-api.ts';
import { Uuid } from '../../protocol/ids.ts';
import type { PowerCommand } from '../../protocol/mqtt/index.ts';
import { type Operations, quietContext } from '../operations.ts';
import type { VmService } from '../vm/vm-service.ts';

export function vmRoutes(vms: VmService, ops: Operations): Router {
  const r = Router();
  const id = (raw: string | undefined) => validate(Uuid, raw, 'VM id');

  r.get('/vms', (_req, res) => {
    res.json({ items: vms.list() });
  });

  r.post('/vms', async (req, res) => {
    const body = validate(CreateVmRequest, req.body ?? {}, 'create request');
    const vm = await ops.deploy(body, quietContext());
    res.status(201).location(`/v1/vms/${vm.id}`).json(vm);
  });

  r.get('/vms/:id', (req, res) => {
    res.json(vms.get(id(req.params.id)));
  });

  r.delete('/vms/:id', async (req, res) => {
    await ops.delete({ vm: id(req.params.id) }, quietContext());
    res.status(204).end();
  });

  r.post('/vms/:id/:action', async (req, res) => {
    const vmId = id(req.params.id);
    const action = validate(VmActionName, req.params.action, 'action') as PowerCommand;
    const body = validate(VmActionRequest, req.body ?? {}, 'action request');
    res.json(await ops[action]({ vm: vmId, ...body }, quietContext()));
  });

  r.get('/vms/:id/console', async (req, res) => {
    const vm = id(req.params.id);
    const q = validate(ConsoleQuery, { bytes: req.query['bytes'] ? Number(req.query['bytes']) : undefined }, 'query');
    const { text } = await ops.console({ vm, ...(q.bytes ? { bytes: q.bytes } : {}) }, quietContext());
    res.type('text/plain').send(text);
  });

  return r;
}
