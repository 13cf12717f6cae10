// REST routes for moving VMs (admin only): POST /v1/vms/{id}/migrate (live when running, cold when
// stopped; the VM's reason shows the progress meanwhile) and POST /v1/hosts/{id}/evacuate.

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import { EvacuationView, MigrateRequest, MigrationView } from '../../protocol/migration.ts';
import { route } from '../api/route.ts';
import type { VmMigrator } from './migrator.ts';

const Id = Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{36}$', errorMessage: 'must be a VM id (UUID)' }) });
const HostParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._-]+$' }) });

export function migrationRoutes(migrator: VmMigrator): Router {
  const r = Router();
  route(
    r,
    {
      method: 'post',
      path: '/vms/:id/migrate',
      summary: 'Move a VM to another host: live when it runs, cold when it is stopped',
      tag: 'vms',
      role: 'admin',
      params: Id,
      body: MigrateRequest,
      response: MigrationView,
    },
    async ({ params, body, principal }) =>
      migrator.migrate(params.id, body?.host, principal.name, { bandwidthMiBs: body?.bandwidthMiBs }),
  );
  route(
    r,
    {
      method: 'post',
      path: '/vms/:id/migrate/cancel',
      summary: 'Stop the running migration of a VM: it stays on its host, the target is cleaned up',
      tag: 'vms',
      role: 'admin',
      params: Id,
      response: Type.Object({ vm: Type.String(), cancelled: Type.Boolean() }),
    },
    async ({ params }) => migrator.cancel(params.id),
  );
  route(
    r,
    {
      method: 'post',
      path: '/hosts/:id/evacuate',
      summary: 'Disable a host and migrate every VM off it; lists the VMs that could not move and why',
      tag: 'hosts',
      role: 'admin',
      params: HostParam,
      response: EvacuationView,
    },
    async ({ params, principal }) => migrator.evacuate(params.id, principal.name),
  );
  return r;
}
