// Builds the agent's image stack from its configuration: the image tables, the policy, the cache
// (under [images] cache_dir, by default <state_dir>/images) and the instance disks (<state_dir>/instances).

import { join } from 'node:path';
import type { Logger } from 'pino';
import { readTextFileSync } from '../../drivers/host-fs.ts';
import type { AgentConfig } from '../config.ts';
import { ImageBundles } from './image-bundle.ts';
import { InstanceDisks } from './instance-disks.ts';
import type { AgentStateDb } from '../vm/state-db.ts';
import { ImageCache } from './cache.ts';
import { ImageDb } from './image-db.ts';
import { ImagePolicy } from './policy.ts';

const GiB = 1024 ** 3;

export interface ImageStack {
  db: ImageDb;
  policy: ImagePolicy;
  cache: ImageCache;
  disks: InstanceDisks;
  bundles: ImageBundles;
}

export function createImageStack(config: AgentConfig, state: AgentStateDb, log: Logger): ImageStack {
  const c = config.images;
  const ilog = log.child({ component: 'images' });
  const db = new ImageDb(state.db);
  const policy = new ImagePolicy(
    {
      allowChecksums: c.allow_checksums,
      denyChecksums: c.deny_checksums,
      allowUrlPrefixes: c.allow_url_prefixes,
      denyUrlPrefixes: c.deny_url_prefixes,
      allowEndorsers: c.allow_endorsers,
      denyEndorsers: c.deny_endorsers,
      allowIds: c.allow_marketplace_ids,
      denyIds: c.deny_marketplace_ids,
      requireSigned: c.require_signed,
      ...(c.allowed_signers ? { allowedSigners: () => readTextFileSync(c.allowed_signers) } : {}),
    },
    db,
    ilog,
  );
  const cache = new ImageCache({
    dir: c.cache_dir || join(config.agent.state_dir, 'images'),
    db,
    policy,
    quotaBytes: c.quota_gib * GiB,
    maxVirtualSize: c.max_virtual_size_gib * GiB,
    idleTimeoutMs: c.download_idle_timeout_s * 1000,
    retries: c.download_retries,
    log: ilog,
  });
  const disks = new InstanceDisks({
    dir: join(config.agent.state_dir, 'instances'),
    templatesDir: join(config.agent.state_dir, 'disk-templates'),
    cache,
    policy,
    log: ilog,
  });
  return { db, policy, cache, disks, bundles: new ImageBundles({ cache, policy, log: ilog }) };
}
