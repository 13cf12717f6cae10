// REST routes for hosts (list, show, enable, disable for maintenance), instance types and users.

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import { NotFoundError } from '../../common/errors.ts';
import { Quota, Role, type UserStore, User, UserName } from '../auth/users.ts';
import { InstanceType, type InstanceTypeStore, TypeName } from '../catalog/instance-types.ts';
import type { SchedulerService } from '../scheduler/service.ts';
import type { HostAdminStore } from '../vms/host-admin.ts';
import type { Fleet } from '../fleet/fleet-view.ts';
import { route } from './route.ts';
import { Host } from '../../protocol/host-view.ts';

const HostParam = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
});

export function adminRoutes(deps: {
  fleet: Fleet;
  hostAdmin: HostAdminStore;
  scheduler: SchedulerService;
  types: InstanceTypeStore;
  users: UserStore;
}): Router {
  const r = Router();
  // one host's view reads that host only; the list computes every view once (it was once per host:
  // quadratic, minutes of a blocked event loop at 10,000 hosts)
  const hostView = (id: string, v = deps.scheduler.hostView(id)) => {
    if (!v) throw new NotFoundError('host', id);
    const admin = deps.hostAdmin.get(id);
    return {
      ...v,
      reason: admin.reason,
      cachedImages: [...v.cachedImages],
      groups: undefined,
      features: [...v.features],
    };
  };
  route(
    r,
    {
      method: 'get',
      path: '/hosts',
      summary: 'List hosts with capacity and state',
      tag: 'hosts',
      role: 'user',
      response: Type.Object({ items: Type.Array(Host) }),
    },
    () => ({
      items: deps.scheduler.hostViews().map((v) => hostView(v.id, v)),
    }),
  );
  route(
    r,
    {
      method: 'get',
      path: '/hosts/:id',
      summary: 'Show a host',
      tag: 'hosts',
      role: 'user',
      params: HostParam,
      response: Host,
    },
    ({ params }) => hostView(params.id),
  );
  route(
    r,
    {
      method: 'post',
      path: '/hosts/:id/enable',
      summary: 'Enable a host for scheduling',
      tag: 'hosts',
      role: 'admin',
      params: HostParam,
      response: Host,
    },
    ({ params }) => {
      hostView(params.id); // 404 for an unknown host, before anything is recorded
      deps.hostAdmin.set(params.id, { enabled: true, reason: '' });
      deps.scheduler.kick();
      return hostView(params.id);
    },
  );
  route(
    r,
    {
      method: 'post',
      path: '/hosts/:id/disable',
      summary: 'Disable a host (maintenance): no new VMs are placed there',
      tag: 'hosts',
      role: 'admin',
      params: HostParam,
      body: Type.Object({ reason: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }),
      response: Host,
    },
    ({ params, body }) => {
      hostView(params.id); // 404 for an unknown host, before anything is recorded
      deps.hostAdmin.set(params.id, { enabled: false, reason: body.reason ?? 'maintenance' });
      return hostView(params.id);
    },
  );
  route(
    r,
    {
      method: 'patch',
      path: '/hosts/:id',
      summary: 'Set a host cluster and features',
      tag: 'hosts',
      role: 'admin',
      params: HostParam,
      body: Type.Object(
        {
          cluster: Type.Optional(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' })),
          features: Type.Optional(
            Type.Array(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }), { maxItems: 32 }),
          ),
        },
        { additionalProperties: false },
      ),
      response: Host,
    },
    ({ params, body }) => {
      hostView(params.id); // 404 for an unknown host, before anything is recorded
      deps.hostAdmin.set(params.id, body);
      deps.scheduler.kick();
      return hostView(params.id);
    },
  );

  route(
    r,
    {
      method: 'get',
      path: '/types',
      summary: 'List instance types',
      tag: 'types',
      role: 'user',
      response: Type.Object({ items: Type.Array(InstanceType) }),
    },
    () => ({ items: deps.types.list() }),
  );
  route(
    r,
    {
      method: 'post',
      path: '/types',
      summary: 'Create an instance type',
      tag: 'types',
      role: 'admin',
      body: InstanceType,
      response: InstanceType,
      status: 201,
    },
    ({ body }) => deps.types.create(body),
  );
  route(
    r,
    {
      method: 'delete',
      path: '/types/:name',
      summary: 'Delete an instance type',
      tag: 'types',
      role: 'admin',
      params: Type.Object({ name: TypeName }),
    },
    ({ params }) => {
      deps.types.delete(params.name);
    },
  );

  route(
    r,
    { method: 'get', path: '/users/me', summary: 'Who you are', tag: 'users', role: 'user', response: User },
    ({ principal }) => deps.users.get(principal.id),
  );
  route(
    r,
    {
      method: 'get',
      path: '/users',
      summary: 'List users',
      tag: 'users',
      role: 'admin',
      response: Type.Object({ items: Type.Array(User) }),
    },
    () => ({ items: deps.users.list() }),
  );
  route(
    r,
    {
      method: 'post',
      path: '/users',
      summary: 'Create a user; the token is shown once',
      tag: 'users',
      role: 'admin',
      body: Type.Object(
        { name: UserName, role: Type.Optional(Role), quota: Type.Optional(Quota) },
        { additionalProperties: false },
      ),
      status: 201,
      response: Type.Object({ user: User, token: Type.String() }),
    },
    ({ body }) => deps.users.create(body.name, body.role ?? 'user', body.quota),
  );
  route(
    r,
    {
      method: 'put',
      path: '/users/:id/quota',
      summary: 'Set a user quota',
      tag: 'users',
      role: 'admin',
      params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
      body: Quota,
      response: User,
    },
    ({ params, body }) => deps.users.setQuota(params.id, body),
  );
  return r;
}
