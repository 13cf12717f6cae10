// REST routes for context CD-ROMs (mounted under /v1): admins (VM creation) build a VM's ISO and get its
// download URL; agents download it from that URL, which carries the per-VM token (a capability URL, like
// image content: agents hold no user credentials). A wrong, stale or expired token, or one presented for
// another host than the ISO was built for, is a 403.

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import { StratusError } from '../../common/errors.ts';
import { ContextRequest } from '../../protocol/context.ts';
import { Uuid } from '../../protocol/ids.ts';
import { route } from '../api/route.ts';
import type { ContextService } from './service.ts';

const VmParam = Type.Object({
  vmId: Uuid,
});

export function contextRoutes(ctx: ContextService): Router {
  const r = Router();
  route(
    r,
    {
      method: 'post',
      path: '/context',
      summary: "Build a VM's context CD-ROM (OpenNebula or NoCloud) from its leases; returns the download URL",
      tag: 'context',
      role: 'admin',
      body: ContextRequest,
      // user data and start scripts of 256 KiB each, SSH keys, variables
      bodyLimit: 2 * 1024 * 1024,
      status: 201,
    },
    async ({ body }) => {
      const { path: _path, token: _token, ...iso } = await ctx.build(body);
      return iso;
    },
  );
  route(
    r,
    {
      method: 'get',
      path: '/context/:vmId.iso',
      summary: "Download a VM's context CD-ROM (capability URL with the VM's token)",
      tag: 'context',
      role: 'public',
      params: VmParam,
      query: Type.Object({
        token: Type.String({ minLength: 1, maxLength: 128 }),
        host: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
      }),
    },
    async ({ params, query, res }) => {
      const why = ctx.refusal(params.vmId, query.token, query.host);
      res.locals['authFailed'] = why !== undefined; // counts towards the failed-authentication limit
      if (why) throw new StratusError('STRATUS_ERR_FORBIDDEN', `invalid context URL: ${why}`, { status: 403 });
      await new Promise<void>((resolve, reject) =>
        res.sendFile(
          ctx.path(params.vmId),
          { headers: { 'Content-Type': 'application/x-iso9660-image', 'Cache-Control': 'no-store' } },
          (err) => (err && !res.headersSent ? reject(err) : resolve()),
        ),
      );
    },
  );
  return r;
}
