// REST routes for images: register by URL + checksum, upload (raw body, hashed, with progress in the
// logs), list, show, delete, and the content URL agents download from. Uploads are limited in size and
// by the owner's image quota, and inspected before they become available (controller/images/inspect.ts):
// a refused or oversized upload leaves neither a record nor bytes behind.

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import type { Logger } from 'pino';
import { ConflictError, NotFoundError, StratusError } from '../../common/errors.ts';
import type { Request, Response } from 'express';
import { route } from '../api/route.ts';
import type { VmStore } from '../vms/store.ts';
import { type CapabilityQuery, type ImageContent, ImageQuotaExceededError, UploadTooLargeError } from './content.ts';
import { inspectImage } from './inspect.ts';
import { Image, type ImageRecord, type ImageRegistry, RegisterImageRequest, UploadImageQuery } from './registry.ts';

const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

/** Limits of image content kept by the controller ([images] in the configuration). */
export interface ImageLimits {
  maxUploadBytes: number;
  /** The owner's image quota in bytes; undefined: no limit (admins, or a quota of 0). */
  quotaBytes: (ownerId: string) => number | undefined;
  maxVirtualSize: number;
  /** Inspect images registered by URL (their header, over HTTP). */
  inspectRegistered: boolean;
  /** Capability URLs name a host: it must be one the controller knows. */
  hostKnown: (hostId: string) => boolean;
}

const CapabilityQuerySchema = Type.Object({
  host: Type.String({ minLength: 1, maxLength: 253 }),
  exp: Type.Integer({ minimum: 0, maximum: 2 ** 40 }),
  token: Type.String({ minLength: 1, maxLength: 128 }),
});

export function imageRoutes(
  images: ImageRegistry,
  content: ImageContent,
  vms: VmStore,
  log: Logger,
  limits: ImageLimits,
): Router {
  const r = Router();
  const view = (img: ReturnType<ImageRegistry['get']>) => {
    const { ownerId: _o, ...rest } = img;
    return rest;
  };

  /**
   * Receives the body of an upload into the image `img` (state uploading), within the size limit and
   * the owner's quota, inspects it, and makes the image available; on any failure nothing is kept.
   */
  const receive = async (img: ImageRecord, req: Request, res: Response, expectedSha256?: string) => {
    const quota = limits.quotaBytes(img.ownerId);
    const used = quota === undefined ? 0 : images.storedBytes(img.ownerId, img.id);
    const room = quota === undefined ? Number.POSITIVE_INFINITY : Math.max(0, quota - used);
    const maxBytes = Math.min(limits.maxUploadBytes, room);
    const tooLarge = (asked?: number) =>
      room < limits.maxUploadBytes
        ? new ImageQuotaExceededError(used, asked, quota ?? 0)
        : new UploadTooLargeError(limits.maxUploadBytes);
    const total = Number(req.headers['content-length'] ?? Number.NaN);
    let lastPct = -1;
    try {
      // refused before a byte is read when the client says how much it sends
      if (Number.isFinite(total) && total > maxBytes) {
        // a modest excess is read and dropped so that the client sees the answer, not a reset
        if (total - maxBytes <= DRAIN_MAX_BYTES) await drain(req);
        throw tooLarge(total);
      }
      const { sha256, size } = await content.store(img.id, req, {
        expectedSha256,
        maxBytes,
        tooLarge: () => tooLarge(),
        onBytes: (n) => {
          const pct = Number.isFinite(total) && total > 0 ? Math.floor((n * 100) / total) : -1;
          if (pct >= lastPct + 25) {
            lastPct = pct;
            log.info({ image: img.id, bytes: n, pct }, 'image upload progress');
          }
        },
      });
      const found = await inspectImage(content.path(img.id), {
        name: img.name,
        declaredFormat: img.format,
        maxVirtualSize: limits.maxVirtualSize,
        deep: true,
      });
      // uploads of the same owner running at the same time: the quota holds when they finish
      const now = quota === undefined ? 0 : images.storedBytes(img.ownerId, img.id);
      if (quota !== undefined && now + size > quota) throw new ImageQuotaExceededError(now, size, quota);
      log.info({ image: img.id, sha256, size, format: found.format, virtualSize: found.virtualSize }, 'image uploaded');
      return view(images.finishUpload(img.id, sha256, size, found.virtualSize));
    } catch (err) {
      // the client may still be sending: answer, then close the connection
      if (!res.headersSent) res.setHeader('Connection', 'close');
      await content.remove(img.id);
      images.forget(img.id);
      log.warn({ image: img.id, err: (err as Error).message }, 'image upload refused; nothing kept');
      throw err;
    }
  };

  route(
    r,
    {
      method: 'get',
      path: '/images',
      summary: 'List the images you can use',
      tag: 'images',
      role: 'user',
      response: Type.Object({ items: Type.Array(Image) }),
    },
    ({ principal }) => ({
      items: images.list(principal).map(view),
    }),
  );

  route(
    r,
    {
      method: 'post',
      path: '/images',
      summary: 'Register an image by URL and sha256 (its header is inspected when the URL can be read)',
      tag: 'images',
      role: 'user',
      body: RegisterImageRequest,
      response: Image,
      status: 201,
    },
    async ({ body, principal }) => {
      let virtualSize: number | undefined;
      if (limits.inspectRegistered) {
        virtualSize = await inspectImage(
          body.url,
          { name: body.name, declaredFormat: body.format, maxVirtualSize: limits.maxVirtualSize, deep: false },
          (err) => {
            // not readable from here (no Range support, a network only hosts reach, ...): agents inspect it
            log.warn({ url: body.url.replace(/\?.*$/, ''), err: err.message }, 'registered image not inspected');
            return new InspectSkipped();
          },
        ).then(
          (found) => found.virtualSize,
          (err) => {
            if (!(err instanceof InspectSkipped)) throw err;
            return undefined;
          },
        );
      }
      const img = images.register(body, principal);
      return view(virtualSize === undefined ? img : images.setVirtualSize(img.id, virtualSize));
    },
  );

  route(
    r,
    {
      method: 'post',
      path: '/images/upload',
      summary: 'Upload an image (raw body); optional sha256 is verified; size, quota and content are checked',
      tag: 'images',
      role: 'user',
      query: UploadImageQuery,
      rawBody: true,
      response: Image,
      status: 201,
    },
    async ({ query, principal, req, res }) => {
      const img = images.beginUpload(query, principal);
      return receive(img, req, res, query.sha256);
    },
  );

  route(
    r,
    {
      method: 'get',
      path: '/images/:id',
      summary: 'Show an image',
      tag: 'images',
      role: 'user',
      params: IdParam,
      response: Image,
    },
    ({ params, principal }) => view(images.resolve(params.id, principal)),
  );

  route(
    r,
    {
      method: 'delete',
      path: '/images/:id',
      summary: 'Delete an image no VM uses',
      tag: 'images',
      role: 'user',
      params: IdParam,
    },
    async ({ params, principal }) => {
      const img = images.resolve(params.id, principal);
      if (principal.role !== 'admin' && img.ownerId !== principal.id) throw new NotFoundError('image', params.id);
      const users = vms.list().filter((v) => v.imageId === img.id);
      if (users.length > 0)
        throw new ConflictError(`image ${img.name} is used by ${users.length} VM(s)`, { vms: users.map((v) => v.id) });
      if (img.stored) await content.remove(img.id);
      images.forget(img.id);
    },
  );

  const checkHost = (q: CapabilityQuery) => {
    if (!limits.hostKnown(q.host))
      throw new StratusError('STRATUS_ERR_FORBIDDEN', `invalid image URL: host ${q.host} is not known`, {
        status: 403,
      });
  };

  route(
    r,
    {
      method: 'put',
      path: '/images/:id/content',
      summary: 'Upload the content of an image being saved (capability URL for the agent of one host, save-as)',
      tag: 'images',
      role: 'public',
      params: IdParam,
      query: CapabilityQuerySchema,
      rawBody: true,
      response: Image,
    },
    async ({ params, query, req, res }) => {
      res.locals['authFailed'] = true; // until the capability checks pass (counts towards the 429 limit)
      const img = images.find(params.id);
      if (img?.state !== 'uploading')
        throw new StratusError('STRATUS_ERR_FORBIDDEN', 'invalid image upload URL', { status: 403 });
      content.checkUpload(img.id, query);
      checkHost(query);
      res.locals['authFailed'] = false;
      log.info({ image: img.id, host: query.host }, 'image content arriving');
      return receive(img, req, res);
    },
  );

  route(
    r,
    {
      method: 'get',
      path: '/images/:id/content',
      summary: 'Download stored image content (capability URL for the agent of one host, expires)',
      tag: 'images',
      role: 'public',
      params: IdParam,
      query: CapabilityQuerySchema,
    },
    async ({ params, query, res }) => {
      res.locals['authFailed'] = true; // until the capability checks pass (counts towards the 429 limit)
      const img = images.find(params.id);
      if (!img?.stored || !img.sha256)
        throw new StratusError('STRATUS_ERR_FORBIDDEN', 'invalid image content URL', { status: 403 });
      content.checkDownload(img.id, img.sha256, query);
      checkHost(query);
      res.locals['authFailed'] = false;
      // sendFile answers Range requests, so an agent can resume an interrupted download
      await new Promise<void>((resolve, reject) =>
        res.sendFile(
          content.path(img.id),
          { headers: { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store' } },
          (err) => (err && !res.headersSent ? reject(err) : resolve()),
        ),
      );
    },
  );
  return r;
}

const DRAIN_MAX_BYTES = 64 * 1024 * 1024;

/** Reads and drops a request body. */
function drain(req: Request): Promise<void> {
  return new Promise((resolve) => {
    req.on('end', resolve);
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.resume();
  });
}

/** Marks a registration whose URL could not be inspected (accepted; agents inspect at download). */
class InspectSkipped extends Error {}
