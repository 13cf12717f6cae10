// The site Marketplace as a controller feature: the entry store, the trust store, the site key
// (<state_dir>/marketplace/site_ed25519, Ed25519 in OpenSSH format, 0600, made at first start and
// trusted for the site endorser e-mail), the /v1/marketplace routes, the replicator, and its part of
// launches (launch.ts: Marketplace ids as images, the signed entry sent with deploys, refused-image flags).

import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Router } from 'express';
import type { Logger } from 'pino';
import {
  generateOpensshEd25519,
  parseOpensshPrivateKey,
  type SshPrivateKey,
} from '../../common/openssh-private-key.ts';
import { digestStream } from '../../common/marketplace-verify.ts';
import type { Db } from '../../common/sqlite.ts';
import { publicKeyLine } from '../../common/sshsig.ts';
import { readOrCreateSecretFile } from '../../drivers/host-fs.ts';
import type { ControllerConfig } from '../config.ts';
import type { ControllerFeature } from '../feature.ts';
import type { ImageRecord, ImageRegistry } from '../images/registry.ts';
import type { DeployHook } from '../vms/deploy-hook.ts';
import type { VmViewExtra } from '../vms/routes.ts';
import { marketplaceDeployHook, marketplaceResolver, marketplaceViewExtra } from './launch.ts';
import { EntryStore } from './entry-store.ts';
import { Replicator } from './replicator.ts';
import { marketplaceRoutes } from './routes.ts';
import { type MarketItem, MarketplaceService } from './service.ts';
import { TrustStore } from './trust-store.ts';

export class MarketplaceFeature implements ControllerFeature {
  readonly name = 'marketplace';
  readonly entries: EntryStore;
  readonly trust: TrustStore;
  readonly service: MarketplaceService;
  readonly replicator: Replicator;
  readonly routes: readonly Router[];
  readonly siteEndorser: string;
  /** Attaches the signed entry of each image to deploys (the agent verifies it). */
  readonly deployHooks: readonly DeployHook[];
  /** `imageRefused` on VMs whose image its entry no longer vouches for. */
  readonly viewExtra: VmViewExtra;
  private key: SshPrivateKey | undefined;

  constructor(private readonly d: { config: ControllerConfig; db: Db; log: Logger; registry: ImageRegistry }) {
    const c = d.config;
    const log = d.log.child({ part: 'marketplace' });
    this.siteEndorser = c.marketplace.site_endorser || `stratus@${c.controller.site}`;
    this.entries = new EntryStore(d.db);
    this.trust = new TrustStore(d.db);
    this.service = new MarketplaceService({
      entries: this.entries,
      trust: this.trust,
      log,
      siteKey: () => this.siteKey(),
      siteEndorser: this.siteEndorser,
    });
    this.replicator = new Replicator({
      mirrors: c.marketplace.mirrors,
      intervalMs: c.marketplace.mirror_interval_s * 1000,
      timeoutMs: c.marketplace.mirror_timeout_s * 1000,
      service: this.service,
      log,
    });
    d.registry.addResolver(marketplaceResolver(this.service, d.registry));
    this.deployHooks = [marketplaceDeployHook(this.service, this.entries, () => c.marketplace.require_entry)];
    this.viewExtra = marketplaceViewExtra(this.service, this.entries, d.registry);
    this.routes = [
      marketplaceRoutes({
        service: this.service,
        trust: this.trust,
        replicator: this.replicator,
        publicFeed: c.marketplace.public_feed,
        site: c.controller.site,
      }),
    ];
  }

  /** The site key, made at first use (0600) and trusted for the site endorser unless revoked. */
  siteKey(): SshPrivateKey {
    if (this.key) return this.key;
    const path = join(this.d.config.controller.state_dir, 'marketplace', 'site_ed25519');
    const key = parseOpensshPrivateKey(readOrCreateSecretFile(path, () => generateOpensshEd25519(this.siteEndorser)));
    const line = publicKeyLine({ algorithm: key.algorithm, blob: key.publicBlob });
    const known = this.trust.list().some((k) => k.publicKey === line);
    if (!known) this.trust.add(this.siteEndorser, line, 'site key', 'site');
    this.key = key;
    return key;
  }

  /**
   * Signs, with the site key, the entry of an image this site saved (save-as) from the content it
   * stored at `path`, valid for [marketplace] saved_image_valid_days, and publishes it here; the image
   * then names the site endorser and the expiry. A private image's entry carries no title, so the
   * Marketplace list does not name another user's image.
   */
  async signSaved(img: ImageRecord, path: string): Promise<MarketItem> {
    const digests = await digestStream(createReadStream(path));
    if (img.sha256 && digests.sha256 !== img.sha256)
      throw new Error(`the stored content of image ${img.id} changed after its upload (sha256 ${digests.sha256})`);
    const item = this.service.signSiteEntry(digests, {
      format: img.format === 'raw' ? 'raw' : 'qcow2',
      validDays: this.d.config.marketplace.saved_image_valid_days,
      tags: ['saved'],
      ...(img.visibility === 'public' ? { title: img.name } : {}),
      ...(img.os ? { os: img.os } : {}),
      ...(img.arch ? { osArch: img.arch } : {}),
    });
    this.d.registry.setMeta(img.id, { endorser: item.entry.endorser.email, expiresAt: item.entry.validUntil });
    this.d.log.info(
      { image: img.id, entry: item.entry.id, validUntil: item.entry.validUntil },
      'saved image signed with the site key',
    );
    return item;
  }

  start(): void {
    this.siteKey();
    this.replicator.start();
  }

  stop(): void {
    this.replicator.stop();
  }
}
