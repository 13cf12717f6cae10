// The agent's local HTTP API (express): on 127.0.0.1 or a unix socket, never off-host. Mutating requests
// get 503 with Retry-After until the agent has finished recovering its VMs after a start.

import { randomUUID } from 'node:crypto';
import { chmodSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import express, { type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { NotReadyError } from '../../common/errors.ts';
import { notFoundRoute, problemHandler } from '../../common/http-problem.ts';
import type { LibvirtConnection } from '../../drivers/libvirt/index.ts';
import type { Reconciler } from '../vm/reconciler.ts';
import type { VmService } from '../vm/vm-service.ts';
import type { ImageBundles } from '../images/image-bundle.ts';
import type { ImageCache } from '../images/cache.ts';
import type { SaveAsService } from '../images/save-as.ts';
import type { SnapshotService } from '../images/snapshots.ts';
import type { Operations } from '../operations.ts';
import { imageRoutes } from './image-routes.ts';
import { snapshotRoutes } from './snapshot-routes.ts';
import { vmRoutes } from './vm-routes.ts';
import type { VolumeAttacher } from '../volumes/attacher.ts';
import { volumeRoutes } from './volume-routes.ts';

export interface ApiDeps {
  vms: VmService;
  /** The operations of the command catalogue (agent/operations.ts), shared with the MQTT commands. */
  ops: Operations;
  reconciler: Reconciler;
  conn: LibvirtConnection;
  log: Logger;
  hostId: string;
  version: string;
  /** Image cache, bundles, VM snapshots and save-as (agent/images/). */
  images?: { cache: ImageCache; bundles: ImageBundles; snapshots: SnapshotService; saveAs: SaveAsService };
  /** Volume attachments (agent/volumes/attacher.ts). */
  volumes?: VolumeAttacher;
}

export function buildApp(d: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    const reqId = (req.headers['x-request-id'] as string | undefined)?.slice(0, 64) ?? randomUUID();
    res.setHeader('X-Request-Id', reqId);
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      d.log.debug({ reqId, method: req.method, path: req.path, status: res.statusCode, ms }, 'request');
    });
    next();
  });
  app.use(express.json({ limit: '1mb', strict: true }));
  const readyForControl: RequestHandler = (req, _res, next) => {
    if (req.method !== 'GET' && !d.reconciler.isReady)
      next(new NotReadyError('agent is recovering its VMs; retry shortly'));
    else next();
  };
  app.get('/v1/health', (_req, res) => {
    const ready = d.reconciler.isReady;
    res.status(ready && d.conn.connected ? 200 : 503).json({
      status: !d.conn.connected ? 'libvirt-disconnected' : ready ? 'ok' : 'recovering',
      host: d.hostId,
      version: d.version,
      libvirt: { uri: d.conn.uri, connected: d.conn.connected },
    });
  });
  app.get('/v1/host', async (_req, res) => {
    const [node, versions, hostname] = await Promise.all([d.conn.nodeInfo(), d.conn.versions(), d.conn.hostname()]);
    res.json({ host: d.hostId, hostname, node, versions });
  });
  app.get('/v1/unmanaged-domains', (_req, res) => {
    res.json({ items: d.reconciler.unmanaged });
  });
  if (d.images) {
    // before the VM routes: their /vms/{id}/{action} would take /vms/{id}/snapshots and /save-as
    app.use('/v1', readyForControl, snapshotRoutes(d.ops));
    app.use('/v1', readyForControl, imageRoutes({ cache: d.images.cache, bundles: d.images.bundles, log: d.log }));
  }
  // before the VM routes, whose /vms/{id}/{action} would take /vms/{id}/volumes
  if (d.volumes) app.use('/v1', readyForControl, volumeRoutes(d.volumes, d.ops));
  app.use('/v1', readyForControl, vmRoutes(d.vms, d.ops));
  app.use(notFoundRoute);
  app.use(problemHandler(d.log));
  return app;
}

/** Listens on `host:port` or `unix:/path`; resolves with the server and the address it got. */
export function listen(app: express.Express, spec: string): Promise<{ server: Server; address: string }> {
  return new Promise((resolve, reject) => {
    let server: Server;
    if (spec.startsWith('unix:')) {
      const path = spec.slice(5);
      rmSync(path, { force: true });
      server = app.listen(path, () => {
        chmodSync(path, 0o660);
        resolve({ server, address: spec });
      });
    } else {
      const i = spec.lastIndexOf(':');
      const host = spec.slice(0, i) || '127.0.0.1';
      const port = Number(spec.slice(i + 1));
      server = app.listen(port, host, () => {
        const a = server.address();
        resolve({ server, address: typeof a === 'object' && a ? `${a.address}:${a.port}` : spec });
      });
    }
    server.once('error', reject);
  });
}
