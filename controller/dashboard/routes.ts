// The live dashboard: a static page (plain ES modules, no build step) that connects to the broker
// over MQTT/WebSocket with a read-only account and renders hosts, VMs, charts and events as they
// are published. The controller serves the page and the browser bundle of mqtt.js to anyone; the
// connection settings (a short-lived read-only broker account issued to the user), the metrics
// history and the events only to a caller with a bearer token (the page asks for one and keeps it
// in sessionStorage).

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import express, { type RequestHandler, type Router } from 'express';
import { ValidationError } from '../../common/errors.ts';
import { isHostId, ROOT } from '../../protocol/mqtt/index.ts';
import { UnauthorizedError } from '../auth/middleware.ts';
import type { Principal } from '../auth/users.ts';
import type { FleetStore, MetricPoint } from '../fleet/store.ts';
import { isUuid } from '../../protocol/ids.ts';
import { readFilters } from '../mqtt/acl.ts';

export interface DashboardSettings {
  /** '' lets the page use ws(s)://<its own host>/mqtt. */
  wsUrl: string;
  username: string;
  password: string;
  site: string;
  /** When the account stops working (ms since the epoch); 0: not known (external broker). */
  expiresAt: number;
}

/** 401 unless `authenticate` (mounted before) found a principal. */
const needsLogin: RequestHandler = (_req, res, next) => {
  if (!res.locals['principal']) return next(new UnauthorizedError('log in: this needs a bearer token'));
  next();
};

const publicDir = new URL('./public/', import.meta.url).pathname;
const mqttBundle = join(dirname(createRequire(import.meta.url).resolve('mqtt/package.json')), 'dist', 'mqtt.esm.js');

export function dashboardRoutes(
  store: FleetStore,
  settings: (who: Principal) => DashboardSettings,
  authenticate: readonly RequestHandler[],
  /** The history step still open in memory (controller/fleet/history-steps.ts), shown as the last point. */
  openStep: (host: string, vm: string) => MetricPoint | undefined = () => undefined,
): Router {
  const r = express.Router();
  r.get('/', (_req, res) => res.redirect(302, '/dashboard/'));
  r.get('/dashboard/vendor/mqtt.esm.js', (_req, res) => {
    res.type('text/javascript').setHeader('Cache-Control', 'public, max-age=3600');
    res.sendFile(mqttBundle);
  });
  r.use(['/dashboard/config.json', '/dashboard/history.json', '/dashboard/events.json'], ...authenticate, needsLogin);
  r.get('/dashboard/config.json', (_req, res) => {
    const s = settings(res.locals['principal'] as Principal);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ ...s, root: ROOT, filters: readFilters('dashboard') });
  });
  r.get('/dashboard/history.json', (req, res) => {
    const host = String(req.query['host'] ?? '');
    const vm = String(req.query['vm'] ?? '');
    const minutes = Math.min(24 * 60, Math.max(1, Number(req.query['minutes'] ?? 30) || 30));
    if (!isHostId(host)) throw new ValidationError('host must be a host id');
    if (vm && !isUuid(vm)) throw new ValidationError('vm must be a VM UUID');
    const points: object[] = store.history(host, vm, Date.now() - minutes * 60_000);
    const open = openStep(host, vm);
    if (open)
      points.push({
        ts: open.ts,
        res: 0,
        cpuPct: open.cpuPct,
        memBytes: open.memBytes,
        rxBps: open.rxBps,
        txBps: open.txBps,
      });
    res.json({ host, vm, points });
  });
  r.get('/dashboard/events.json', (req, res) => {
    const limit = Math.min(200, Math.max(1, Number(req.query['limit'] ?? 20) || 20));
    res.json({ items: store.events(undefined, limit) });
  });
  r.use('/dashboard', express.static(publicDir, { index: 'index.html', maxAge: 0 }));
  return r;
}
