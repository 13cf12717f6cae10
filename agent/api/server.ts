// The agent's local HTTP API (express): on a unix socket by default (mode 0660, group `stratus`: the
// filesystem is the access control), or on a loopback TCP port by configuration, where every request but
// /v1/health must carry the bearer token of [api] token_file (compared in constant time). Never off-host.
// Mutating requests get 503 with Retry-After until the agent has finished recovering its VMs after a start.

import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import express, { type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { dirname } from 'node:path';
import { NotReadyError, StratusError } from '../../common/errors.ts';
import { secretEquals } from '../../common/secret-compare.ts';
import { chownGroup, ensureDir, groupId, removeStaleSocket, setMode } from '../../drivers/host-fs.ts';
import { notFoundRoute, problemHandler } from '../../common/http-problem.ts';
import type { LibvirtConnection } from '../../drivers/libvirt/index.ts';
import type { Reconciler } from '../vm/reconciler.ts';
import type { VmService } from '../vm/vm-service.ts';
import type { ImageBundles } from '../images/image-bundle.ts';
import type { ImageCache } from '../images/cache.ts';
import type { InstanceDisks } from '../images/instance-disks.ts';
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
  images?: {
    cache: ImageCache;
    bundles: ImageBundles;
    snapshots: SnapshotService;
    saveAs: SaveAsService;
    disks?: InstanceDisks;
  };
  /** Volume attachments (agent/volumes/attacher.ts). */
  volumes?: VolumeAttacher;
  /** TCP listener: the bearer token every request but /v1/health must carry. */
  token?: string;
}

export class ApiUnauthorizedError extends StratusError {
  constructor() {
    super(
      'STRATUS_ERR_UNAUTHORIZED',
      "the agent's TCP API needs its bearer token (Authorization: Bearer <contents of [api] token_file>)",
      { status: 401 },
    );
  }
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
  if (d.token) {
    const token = d.token;
    app.use((req, res, next) => {
      if (req.path === '/v1/health') return next();
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      if (m && secretEquals(m[1]!, token)) return next();
      res.setHeader('WWW-Authenticate', 'Bearer');
      next(new ApiUnauthorizedError());
    });
  }
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
    const [node, versions, hostname, disk] = await Promise.all([
      d.conn.nodeInfo(),
      d.conn.versions(),
      d.conn.hostname(),
      d.images?.disks?.capacity(),
    ]);
    res.json({ host: d.hostId, hostname, node, versions, ...(disk ? { disk } : {}) });
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

/**
 * Listens on `unix:/path` (a stale socket is replaced; the socket gets mode 0660 and `group` when that
 * group exists) or a loopback `host:port`; resolves with the server and the address it got.
 */
export async function listen(
  app: express.Express,
  spec: string,
  opts: { group?: string; log?: Logger } = {},
): Promise<{ server: Server; address: string }> {
  if (spec.startsWith('unix:')) {
    const path = spec.slice(5);
    await ensureDir(dirname(path), 0o750);
    removeStaleSocket(path);
    const server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(path, () => resolve(s));
      s.once('error', reject);
    });
    setMode(path, 0o660);
    const gid = opts.group ? groupId(opts.group) : undefined;
    if (gid !== undefined) {
      try {
        chownGroup(path, gid);
      } catch (err) {
        opts.log?.warn(
          { path, group: opts.group, err: (err as Error).message },
          'cannot give the API socket its group',
        );
      }
    }
    return { server, address: spec };
  }
  const i = spec.lastIndexOf(':');
  const host = spec.slice(0, i).replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = Number(spec.slice(i + 1));
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => {
      const a = server.address();
      resolve({ server, address: typeof a === 'object' && a ? `${a.address}:${a.port}` : spec });
    });
    server.once('error', reject);
  });
}
