// Local API routes for the image cache: inventory and usage, prefetch (warm the cache), delete,
// the policy audit log, export as a tar bundle and import of one.

import type { Request } from 'express';
import { Router } from 'express';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { validate } from '../../common/validate.ts';
import { ImageRef, ImportQuery, Sha256 } from '../../protocol/image.ts';
import type { ImageBundles } from '../images/image-bundle.ts';
import type { ImageCache } from '../images/cache.ts';
import type { Actor } from '../images/policy.ts';

export interface ImageRouteDeps {
  cache: ImageCache;
  bundles: ImageBundles;
  log: Logger;
}

const PrefetchRequest = Type.Object(
  {
    image: ImageRef,
    wait: Type.Optional(Type.Boolean({ description: 'Answer when the image is cached instead of at once' })),
  },
  { additionalProperties: false },
);

/** Who asks: the X-Stratus-Actor header (the controller sets the user), else the local API. */
export function requestActor(req: Request): Actor {
  const h = req.headers['x-stratus-actor'];
  const actor = typeof h === 'string' && /^[^\x00-\x1f]{1,128}$/.test(h) ? h : 'local-api';
  return { actor };
}

export function imageRoutes(d: ImageRouteDeps): Router {
  const r = Router();
  const sha = (raw: string | undefined) => validate(Sha256, raw, 'image sha256');

  r.get('/images', (_req, res) => {
    res.json({ items: d.cache.inventory(), usage: d.cache.usage() });
  });

  r.get('/images/audit', (req, res) => {
    const limit = Math.min(1000, Math.max(1, Number(req.query['limit'] ?? 100) || 100));
    res.json({ items: d.cache.db.auditLog(limit) });
  });

  r.post('/images/prefetch', async (req, res) => {
    const body = validate(PrefetchRequest, req.body ?? {}, 'prefetch request');
    const who = requestActor(req);
    const cached = d.cache.find(body.image.sha256);
    if (body.wait || cached) {
      const img = await d.cache.ensure(body.image, who);
      res.status(cached ? 200 : 201).json(d.cache.view(img));
      return;
    }
    // policy refusals and bad input are answered now; the download goes on in the background
    const pending = d.cache.ensure(body.image, who);
    const early = await Promise.race([pending.then(() => 'done' as const), new Promise((r) => setImmediate(r))]);
    pending.catch((err: Error) => d.log.warn({ sha256: body.image.sha256, err: err.message }, 'prefetch failed'));
    if (early === 'done') {
      res.status(201).json(d.cache.view(await pending));
      return;
    }
    res
      .status(202)
      .location(`/v1/images/${body.image.sha256}`)
      .json({ sha256: body.image.sha256, status: 'downloading' });
  });

  r.get('/images/:sha256', (req, res) => {
    const s = sha(req.params.sha256);
    const img = d.cache.find(s);
    if (img) {
      res.json({ ...d.cache.view(img), status: 'cached' });
      return;
    }
    const p = d.cache.downloading(s);
    if (p) res.json({ sha256: s, status: 'downloading', progress: p });
    else res.json(d.cache.get(s));
  });

  r.delete('/images/:sha256', async (req, res) => {
    await d.cache.remove(sha(req.params.sha256));
    res.status(204).end();
  });

  r.get('/images/:sha256/export', async (req, res) => {
    const img = d.cache.get(sha(req.params.sha256));
    res.type('application/x-tar');
    res.setHeader('content-disposition', `attachment; filename="${img.sha256.slice(0, 16)}.ova"`);
    await d.bundles.export(img.sha256, res);
  });

  r.post('/images/import', async (req, res) => {
    const q = validate(ImportQuery, { ...req.query }, 'import query');
    const img = await d.bundles.import(req, requestActor(req), { endorser: q.endorser });
    res.status(201).location(`/v1/images/${img.sha256}`).json(img);
  });

  return r;
}
