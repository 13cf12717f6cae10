// The Marketplace at launch, on the controller side: `vm create --image <Marketplace id>` resolves to
// the site image of that SHA-256, registered from the entry's first location on first use (public, the
// caller as owner, named market-<sha256 prefix>) once the entry passes the checks; the deploy hook
// attaches the signed entry (and the key the trust store vouches for) to every image disk that has
// one, so that the agent verifies it before using the image, cached or not; and a VM view flag says
// when a VM runs an image its entry no longer vouches for (key revoked, entry expired or deprecated).

import { StratusError, ValidationError } from '../../common/errors.ts';
import { problems } from '../../common/validate.ts';
import type { ImageRef, MarketplaceProof } from '../../protocol/image.ts';
import { MarketplaceId, marketplaceId } from '../../protocol/marketplace.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import type { ImageRegistry, ImageResolver } from '../images/registry.ts';
import type { DeployHook } from '../vms/deploy-hook.ts';
import type { VmViewExtra } from '../vms/routes.ts';
import type { EntryStore } from './entry-store.ts';
import type { MarketplaceService } from './service.ts';

export function marketplaceResolver(service: MarketplaceService, registry: ImageRegistry): ImageResolver {
  return (idOrName, who) => {
    if (problems(MarketplaceId, idOrName).length > 0) return undefined;
    const { entry } = service.forLaunch(idOrName);
    const sha = entry.checksums.sha256;
    const have = registry.list(who).find((i) => i.sha256 === sha && i.state === 'available');
    if (have) return have;
    const url = entry.locations[0];
    if (!url) {
      throw new ValidationError(
        `Marketplace entry ${entry.id} by ${entry.endorser.email} names no location; upload the image (sha256 ${sha}) or register it by URL`,
      );
    }
    return registry.register(
      {
        name: `market-${sha.slice(0, 16)}`,
        url,
        sha256: sha,
        format: entry.format,
        visibility: 'public',
        endorser: entry.endorser.email,
        expiresAt: entry.validUntil,
        ...(entry.os ? { os: entry.os } : {}),
        ...(entry.osArch ? { arch: entry.osArch } : {}),
      },
      { id: who.id, role: who.role, name: who.name ?? who.id },
    );
  };
}

/** The proof for an image: undefined when the site holds no entry for it, else verified now (or throws). */
function proofFor(service: MarketplaceService, entries: EntryStore, sha256: string): MarketplaceProof | undefined {
  const id = marketplaceId(sha256);
  if (entries.byId(id).length === 0) return undefined;
  const { entry, signature } = service.forLaunch(id);
  return { entry, signature, trust: { email: entry.endorser.email, fingerprint: entry.endorser.key } };
}

export function marketplaceDeployHook(
  service: MarketplaceService,
  entries: EntryStore,
  requireEntry: () => boolean,
): DeployHook {
  const withProof = (ref: ImageRef): ImageRef => {
    const proof = proofFor(service, entries, ref.sha256);
    if (!proof && requireEntry()) {
      throw new StratusError(
        'STRATUS_ERR_IMAGE_REFUSED',
        `image ${ref.sha256} has no signed Marketplace entry on this site (rule: require_entry)`,
        { status: 422, details: { rule: 'require_entry', sha256: ref.sha256 } },
      );
    }
    return proof ? { ...ref, marketplace: proof } : ref;
  };
  return {
    name: 'marketplace',
    prepare(_vm, _host, spec: VmSpec): VmSpec {
      const disks = spec.disks.map((d) => ('image' in d && d.image ? { ...d, image: withProof(d.image) } : d));
      return { ...spec, disks } as VmSpec;
    },
  };
}

/** `imageRefused` in a VM's view when the entry of its image no longer vouches for it. */
export function marketplaceViewExtra(
  service: MarketplaceService,
  entries: EntryStore,
  registry: ImageRegistry,
): VmViewExtra {
  const of = (imageId: string): Record<string, unknown> => {
    const sha = registry.find(imageId)?.sha256;
    if (!sha) return {};
    try {
      proofFor(service, entries, sha);
      return {};
    } catch (err) {
      return { imageRefused: (err as Error).message };
    }
  };
  // a list of 1,000 VMs of a few images asks (and verifies) each image once
  return (vms) => {
    const byImage = new Map<string, Record<string, unknown>>();
    for (const vm of vms) if (!byImage.has(vm.imageId)) byImage.set(vm.imageId, of(vm.imageId));
    return (vm) => byImage.get(vm.imageId) ?? {};
  };
}
