// REST routes of host enrolment: an admin adds a host (POST /v1/hosts: a one-time join token) or
// revokes it (POST /v1/hosts/{id}/revoke: its broker account goes and its sessions are ended); the
// agent redeems the token (POST /v1/join, authenticated by the token alone) for its broker account,
// the broker URL and the site CA. Dashboards get short-lived read-only broker accounts elsewhere
// (controller/dashboard/routes.ts).

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import type { Logger } from 'pino';
import { NotFoundError } from '../../common/errors.ts';
import {
  HostEnrolment,
  HostEnrolRequest,
  JoinRequest,
  JoinResponse,
  type JoinResponse as JoinResponseT,
} from '../../protocol/enrolment.ts';
import { HostId } from '../../protocol/mqtt/topics.ts';
import { route } from '../api/route.ts';
import type { Enrolment } from './enrolment.ts';

export interface EnrolmentRouteDeps {
  enrolment: Enrolment;
  log: Logger;
  defaultTtlS: number;
  /** What a joining host needs besides its credentials (URLs, CA). */
  site: () => { mqttUrl: string; apiUrl: string; ca: string; caFingerprint: string };
  /** Ends the broker sessions of a revoked host. */
  disconnect: (host: string) => void;
}

export function enrolmentRoutes(d: EnrolmentRouteDeps): Router {
  const r = Router();
  route(
    r,
    {
      method: 'post',
      path: '/hosts',
      summary: 'Enrol a host: a one-time join token for `stratus-agent join URL TOKEN`',
      tag: 'hosts',
      role: 'admin',
      body: HostEnrolRequest,
      response: HostEnrolment,
      status: 201,
    },
    ({ body, principal }) => {
      const { token, expiresAt } = d.enrolment.issue(body.name, body.ttlS ?? d.defaultTtlS);
      const s = d.site();
      d.log.info({ host: body.name, by: principal.name, expiresAt }, 'join token issued');
      return {
        name: body.name,
        token,
        expiresAt,
        caFingerprint: s.caFingerprint,
        command: `stratus-agent join ${s.apiUrl} ${token}`,
      };
    },
  );
  route(
    r,
    {
      method: 'post',
      path: '/hosts/:id/revoke',
      summary: "Revoke a host's credentials: the broker refuses it and ends its sessions",
      tag: 'hosts',
      role: 'admin',
      params: Type.Object({ id: HostId }),
    },
    ({ params, principal }) => {
      if (!d.enrolment.revoke(params.id)) throw new NotFoundError('enrolled host', params.id);
      d.disconnect(params.id);
      d.log.warn({ host: params.id, by: principal.name }, 'host revoked');
      return undefined;
    },
  );
  route(
    r,
    {
      method: 'post',
      path: '/join',
      summary: 'Redeem a join token (the agent): its broker account, the broker URL and the site CA',
      tag: 'hosts',
      role: 'public',
      body: JoinRequest,
      response: JoinResponse,
    },
    ({ body, req }): JoinResponseT => {
      const { hostId, password } = d.enrolment.redeem(body.token, body.hostId);
      const s = d.site();
      d.log.info({ host: hostId, from: req.socket.remoteAddress }, 'host joined');
      return {
        hostId,
        mqtt: { url: s.mqttUrl, username: hostId, password },
        api: { url: s.apiUrl },
        ca: s.ca,
        caFingerprint: s.caFingerprint,
      };
    },
  );
  return r;
}
