// The site's images as a controller feature: the registry (URL + sha256 records, or uploads), the
// content store that serves uploaded images to agents through capability URLs signed with a secret
// kept in the state directory (so they survive restarts), and the /v1/images routes.

import { listenerTls, urlOf } from '../tls/site-tls.ts';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Router } from 'express';
import type { Logger } from 'pino';
import type { Db } from '../../common/sqlite.ts';
import { readOrCreateSecretFile } from '../../drivers/host-fs.ts';
import type { UserStore } from '../auth/users.ts';
import type { ControllerConfig } from '../config.ts';
import type { ControllerFeature } from '../feature.ts';
import type { Fleet } from '../fleet/fleet-view.ts';
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
  /** Per-user image quotas. */
  users: UserStore;
  /** Capability URLs are issued only for known hosts. */
  fleet: Fleet;
}

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

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
      (c.api.public_url || urlOf(listenerTls(c.tls.mode, c.api.listen) ? 'https' : 'http', c.api.listen)).replace(
        /\/$/,
        '',
      ),
      c.api.capability_ttl_s,
    );
    this.routes = [
      imageRoutes(this.registry, this.content, d.vms, d.log, {
        maxUploadBytes: c.images.max_upload_mib * MIB,
        quotaBytes: (ownerId) => this.imageQuotaBytes(d.users, ownerId, c.images.user_quota_mib),
        maxVirtualSize: c.images.max_virtual_size_gib * GIB,
        inspectRegistered: c.images.inspect_registered,
        hostKnown: (host) => d.fleet.host(host) !== undefined,
      }),
    ];
  }

  /** A user's image quota in bytes (their own, else [images] user_quota_mib); undefined: no limit. */
  private imageQuotaBytes(users: UserStore, ownerId: string, siteMib: number): number | undefined {
    const u = users.find(ownerId);
    if (!u || u.role === 'admin') return undefined;
    const mib = u.quota.imagesMiB ?? siteMib;
    return mib > 0 ? mib * MIB : undefined;
  }
}
