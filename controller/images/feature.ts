// The site's images as a controller feature: the registry (URL + sha256 records, or uploads), the
// content store that serves uploaded images to agents through capability URLs signed with a secret
// kept in the state directory (so they survive restarts), and the /v1/images routes.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Router } from 'express';
import type { Logger } from 'pino';
import type { Db } from '../../common/sqlite.ts';
import { readOrCreateSecretFile } from '../../drivers/host-fs.ts';
import type { ControllerConfig } from '../config.ts';
import type { ControllerFeature } from '../feature.ts';
import type { VmStore } from '../vms/store.ts';
import { ImageContent } from './content.ts';
import { ImageRegistry } from './registry.ts';
import { imageRoutes } from './routes.ts';

/** A secret that survives restarts (capability URLs stay valid), kept in the state directory. */
function persistentSecret(stateDir: string): Buffer {
  const b64 = readOrCreateSecretFile(join(stateDir, 'controller.secret'), () => randomBytes(32).toString('base64'));
  return Buffer.from(b64, 'base64');
}

export interface ImagesFeatureDeps {
  config: ControllerConfig;
  db: Db;
  log: Logger;
  /** VM records: an image a VM still uses is not deleted. */
  vms: VmStore;
}

export class ImagesFeature implements ControllerFeature {
  readonly name = 'images';
  readonly registry: ImageRegistry;
  readonly content: ImageContent;
  readonly routes: readonly Router[];

  constructor(d: ImagesFeatureDeps) {
    const c = d.config;
    this.registry = new ImageRegistry(d.db);
    this.content = new ImageContent(
      join(c.controller.state_dir, 'images'),
      persistentSecret(c.controller.state_dir),
      (c.api.public_url || `http://${c.api.listen}`).replace(/\/$/, ''),
    );
    this.routes = [imageRoutes(this.registry, this.content, d.vms, d.log)];
  }
}
