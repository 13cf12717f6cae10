// REST routes for networks (mounted under /v1 by the daemon): network CRUD and lease listing for
// admins, network listing for users, holds/reservations, and the DHCP server's status. Declared with
// controller/api/route.ts so that the same schemas validate requests and feed the OpenAPI document.

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import { route } from '../api/route.ts';
import { HoldRequest, LeaseRequest, NetworkCreate, NetworkUpdate } from '../../protocol/network.ts';
import type { DhcpSupervisor } from './dhcp-supervisor.ts';
import { LeaseNotFoundError } from './errors.ts';
import type { IpamService } from './ipam.ts';

const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const LeaseParam = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  lease: Type.String({ minLength: 1, maxLength: 64 }),
});
const LeaseQuery = Type.Object({ kind: Type.Optional(Type.Union([Type.Literal('vm'), Type.Literal('hold')])) });
const Network = Type.Object({ id: Type.String(), name: Type.String() }, { additionalProperties: true });
const Lease = Type.Object(
  { id: Type.String(), mac: Type.Union([Type.String(), Type.Null()]) },
  { additionalProperties: true },
);

export function networkRoutes(ipam: IpamService, dhcp?: DhcpSupervisor): Router {
  const r = Router();
  const tag = 'networks';

  route(r, { method: 'get', path: '/networks', summary: 'List networks', tag, role: 'user' }, () => ({
    items: ipam.listNetworks(),
  }));
  route(
    r,
    {
      method: 'post',
      path: '/networks',
      summary: 'Create a network (bridge or VLAN, IPv4 range, IPv6 SLAAC and/or DHCPv6)',
      tag,
      role: 'admin',
      body: NetworkCreate,
      response: Network,
      status: 201,
    },
    ({ body }) => ipam.createNetwork(body),
  );
  route(
    r,
    {
      method: 'get',
      path: '/networks/:id',
      summary: 'Show a network (by id or name)',
      tag,
      role: 'user',
      params: IdParam,
    },
    ({ params }) => {
      const n = ipam.getNetwork(params.id);
      return { ...n, dhcp: dhcp?.status(n.id) ?? null };
    },
  );
  route(
    r,
    {
      method: 'patch',
      path: '/networks/:id',
      summary: 'Change a network description, gateway or DNS servers (its DHCP server restarts)',
      tag,
      role: 'admin',
      params: IdParam,
      body: NetworkUpdate,
      response: Network,
    },
    ({ params, body }) => ipam.updateNetwork(params.id, body),
  );
  route(
    r,
    {
      method: 'delete',
      path: '/networks/:id',
      summary: 'Delete a network without leases or holds',
      tag,
      role: 'admin',
      params: IdParam,
    },
    ({ params }) => {
      ipam.deleteNetwork(params.id);
    },
  );
  route(
    r,
    {
      method: 'get',
      path: '/networks/:id/leases',
      summary: 'List the leases and holds of a network',
      tag,
      role: 'admin',
      params: IdParam,
      query: LeaseQuery,
    },
    ({ params, query }) => ({ items: ipam.listLeases(params.id, query.kind) }),
  );
  route(
    r,
    {
      method: 'post',
      path: '/networks/:id/leases',
      summary: 'Lease a MAC and addresses to a VM NIC (normally done by VM creation)',
      tag,
      role: 'admin',
      params: IdParam,
      body: LeaseRequest,
      response: Lease,
      status: 201,
    },
    ({ params, body }) => ipam.allocate(params.id, body),
  );
  route(
    r,
    {
      method: 'delete',
      path: '/networks/:id/leases/:lease',
      summary: 'Release a lease or a hold',
      tag,
      role: 'admin',
      params: LeaseParam,
    },
    ({ params }) => {
      const l = ipam.getLease(params.lease);
      if (l.networkId !== ipam.getNetwork(params.id).id) throw new LeaseNotFoundError(params.lease);
      ipam.release(l.id);
    },
  );
  route(
    r,
    {
      method: 'post',
      path: '/networks/:id/holds',
      summary: 'Hold addresses so that they are never leased (with a MAC: a DHCP reservation)',
      tag,
      role: 'admin',
      params: IdParam,
      body: HoldRequest,
      response: Lease,
      status: 201,
    },
    ({ params, body }) => ipam.hold(params.id, body),
  );
  route(
    r,
    { method: 'get', path: '/networks/:id/holds', summary: 'List holds', tag, role: 'admin', params: IdParam },
    ({ params }) => ({ items: ipam.listLeases(params.id, 'hold') }),
  );
  return r;
}
