// Builds the VM spec an agent deploys from the controller's records: size from the instance type, the
// root disk as an overlay of the image (fetched and verified by the agent), direct-boot kernel and
// initrd images when the image names them, the blank disks (volatile disks, the type's swap; the agent
// creates them next to the overlay), and whatever deploy hooks (networks, context, volumes) add.

import { ValidationError } from '../../common/errors.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import type { ImageContent } from '../images/content.ts';
import type { ImageRecord, ImageRegistry } from '../images/registry.ts';
import type { VmRecord } from './store.ts';
import { blankDisks } from './vm-disks.ts';

/** A feature that adds to a VM's spec at deploy time and can undo what it reserved. */

export class SpecBuilder {
  constructor(
    private readonly images: ImageRegistry,
    private readonly content: ImageContent,
  ) {}

  /** The image as a host fetches it: stored content through a capability URL issued for that host. */
  ref(img: ImageRecord, hostId: string): { sha256: string; url: string; format?: 'qcow2' | 'raw' } {
    if (!img.sha256) throw new ValidationError(`image ${img.name} has no content yet`);
    const url = img.stored ? this.content.url(img.id, img.sha256, hostId) : img.sourceUrl;
    if (!url) throw new ValidationError(`image ${img.name} has no URL`);
    return img.format === 'qcow2' || img.format === 'raw'
      ? { sha256: img.sha256, url, format: img.format }
      : { sha256: img.sha256, url };
  }

  /** The spec of `vm` for host `hostId` (its capability URLs are valid for that host only). */
  build(vm: VmRecord, hostId: string): VmSpec {
    const img = this.images.get(vm.imageId);
    const spec: VmSpec = {
      id: vm.id,
      name: vm.name,
      vcpus: vm.vcpus,
      memoryMiB: vm.memoryMiB,
      disks: [{ image: this.ref(img, hostId), ...(vm.diskGiB > 0 ? { sizeGiB: vm.diskGiB } : {}) }, ...blankDisks(vm)],
      cdroms: [],
      nics: [],
      labels: { owner: vm.ownerName, type: vm.type },
    } as VmSpec;
    if (img.kernelImage) {
      const kernel = this.images.get(img.kernelImage);
      const ramdisk = img.ramdiskImage ? this.images.get(img.ramdiskImage) : undefined;
      (spec as { boot?: unknown }).boot = {
        kernel: { image: this.ref(kernel, hostId) },
        ...(ramdisk ? { initrd: { image: this.ref(ramdisk, hostId) } } : {}),
        ...(img.cmdline ? { cmdline: img.cmdline } : {}),
      };
    }
    return spec;
  }

  /** `spec` as `hostId` fetches it (migration): the root disk and boot images under URLs issued for that host. */
  retarget(vm: VmRecord, hostId: string, spec: VmSpec): VmSpec {
    const fresh = this.build(vm, hostId);
    const [root, ...rest] = spec.disks;
    const disks =
      root && 'image' in root
        ? [{ ...root, image: (fresh.disks[0] as { image: unknown }).image }, ...rest]
        : spec.disks;
    const boot = spec.boot && fresh.boot ? { ...spec.boot, ...fresh.boot } : spec.boot;
    return { ...spec, disks, ...(boot ? { boot } : {}) } as VmSpec;
  }
}
