// REST routes for images: register by URL + checksum, upload (raw body, hashed, with progress in the
// logs), list, show, delete, and the content URL agents download from.

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import type { Logger } from 'pino';
import { ConflictError, NotFoundError, StratusError } from '../../common/errors.ts';
import { route } from '../api/route.ts';
import type { VmStore } from '../vms/store.ts';
import type { ImageContent } from './content.ts';
import { Image, type ImageRegistry, RegisterImageRequest, UploadImageQuery } from './registry.ts';

const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export function imageRoutes(images: ImageRegistry, content: ImageContent, vms: VmStore, log: Logger): Router {
  const r = Router();
  const view = (img: ReturnType<ImageRegistry['get']>) => {
    const { ownerId: _o, ...rest } = img;
    return rest;
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
      summary: 'Register an image by URL and sha256',
      tag: 'images',
      role: 'user',
      body: RegisterImageRequest,
      response: Image,
      status: 201,
    },
    ({ body, principal }) => view(images.register(body, principal)),
  );

  route(
    r,
    {
      method: 'post',
      path: '/images/upload',
      summary: 'Upload an image (raw body); optional sha256 is verified',
      tag: 'images',
      role: 'user',
      query: UploadImageQuery,
      rawBody: true,
      response: Image,
      status: 201,
    },
    async ({ query, principal, req }) => {
      const img = images.beginUpload(query, principal);
      const total = Number(req.headers['content-length'] ?? 0);
      let lastPct = -1;
      try {
        const { sha256, size } = await content.store(img.id, req, query.sha256, (n) => {
          const pct = total ? Math.floor((n * 100) / total) : -1;
          if (pct >= lastPct + 25) {
            lastPct = pct;
            log.info({ image: img.id, bytes: n, pct }, 'image upload progress');
          }
        });
        log.info({ image: img.id, sha256, size }, 'image uploaded');
        return view(images.finishUpload(img.id, sha256, size));
      } catch (err) {
        images.forget(img.id);
        throw err;
      }
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

  route(
    r,
    {
      method: 'put',
      path: '/images/:id/content',
      summary: 'Upload the content of an image being saved (capability URL for agents, save-as)',
      tag: 'images',
      role: 'public',
      params: IdParam,
      query: Type.Object({ token: Type.String({ maxLength: 128 }) }),
      rawBody: true,
      response: Image,
    },
    async ({ params, query, req }) => {
      const img = images.find(params.id);
      if (img?.state !== 'uploading' || !content.checkUploadToken(img.id, query.token)) {
        throw new StratusError('STRATUS_ERR_FORBIDDEN', 'invalid image upload URL', { status: 403 });
      }
      const { sha256, size } = await content.store(img.id, req);
      log.info({ image: img.id, sha256, size }, 'image content received');
      return view(images.finishUpload(img.id, sha256, size));
    },
  );

  route(
    r,
    {
      method: 'get',
      path: '/images/:id/content',
      summary: 'Download stored image content (capability URL for agents)',
      tag: 'images',
      role: 'public',
      params: IdParam,
      query: Type.Object({ token: Type.String({ maxLength: 128 }) }),
    },
    async ({ params, query, res }) => {
      const img = images.find(params.id);
      if (!img?.stored || !img.sha256 || !content.checkToken(img.id, img.sha256, query.token)) {
        throw new StratusError('STRATUS_ERR_FORBIDDEN', 'invalid image content URL', { status: 403 });
      }
      // sendFile answers Range requests, so an agent can resume an interrupted download
      await new Promise<void>((resolve, reject) =>
        res.sendFile(content.path(img.id), { headers: { 'Content-Type': 'application/octet-stream' } }, (err) =>
          err && !res.headersSent ? reject(err) : resolve(),
        ),
      );
    },
  );
  return r;
}
