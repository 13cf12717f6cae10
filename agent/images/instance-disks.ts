// Instance disks: each disk of a VM spec that names an image becomes a qcow2 overlay on the cached
// base (what `qemu-img create -f qcow2 -F <fmt> -b <base>` writes, O(1) whatever the base's size; copied
// from a template made once per base and size, agent/images/disk-templates.ts), optionally grown
// to the requested size, in <state_dir>/instances/<vm>/. The overlay pins its base in the cache, so it
// is never evicted; both are undone on a failed create and removed with the VM. Blank disks (volatile
// disks, the type's swap) are sparse qcow2 files in the same directory, so every path that removes the
// overlays (delete, the undo of a failed create, recovery, orphan removal) removes them too.

import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Reverter } from '../../common/reverter.ts';
import { allocatedBytes, freeSpace, listDir, makeDir, removePath } from '../../drivers/image-files.ts';
import type { ImageRef } from '../../protocol/image.ts';
import type { BlankDiskSpec, BootFile, ImageDiskSpec, PathDiskSpec, VmSpec } from '../../protocol/vm-spec.ts';
import { type ImageCache, refSubject } from './cache.ts';
import { DiskTemplates } from './disk-templates.ts';
import { DiskOperationError } from './errors.ts';
import type { ImageRecord } from './image-db.ts';
import type { Actor, ImagePolicy } from './policy.ts';

/** A VM spec whose disks and boot files are all host files (images replaced by overlays and cache paths). */
export type HostVmSpec = Omit<VmSpec, 'disks'> & { disks: PathDiskSpec[] };

/** The kernel and initrd of a spec that name images. */
function bootImages(spec: VmSpec): ['kernel' | 'initrd', ImageRef][] {
  const out: ['kernel' | 'initrd', ImageRef][] = [];
  if (spec.boot && typeof spec.boot.kernel !== 'string') out.push(['kernel', spec.boot.kernel.image]);
  if (spec.boot?.initrd !== undefined && typeof spec.boot.initrd !== 'string')
    out.push(['initrd', spec.boot.initrd.image]);
  return out;
}

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

export interface InstanceDisksOptions {
  /** Root of the per-VM directories. */
  dir: string;
  cache: ImageCache;
  policy: ImagePolicy;
  log: Logger;
  /** Where the empty qcow2 files copied for each VM are made (agent/images/disk-templates.ts); default
   * `<dir>/../disk-templates`. */
  templatesDir?: string;
}

/** Who is deploying: the VM's `owner` label when it has one. */
export function deployActor(spec: VmSpec): Actor {
  return { actor: spec.labels?.['owner'] ?? 'unknown', vmId: spec.id };
}

export class InstanceDisks {
  private readonly templates: DiskTemplates;

  constructor(private readonly o: InstanceDisksOptions) {
    this.templates = new DiskTemplates({ dir: o.templatesDir ?? join(o.dir, '..', 'disk-templates') });
  }

  vmDir(vmId: string): string {
    return join(this.o.dir, vmId);
  }

  overlayPath(vmId: string, index: number): string {
    return join(this.vmDir(vmId), `disk${index}.qcow2`);
  }

  /** The cache's record of users: one per overlay. */
  owner(vmId: string, index?: number): string {
    return index === undefined ? `vm:${vmId}` : `vm:${vmId}/disk${index}`;
  }

  /** The spec as libvirt sees it: each image disk is its overlay, each boot image its cached file. */
  resolve(spec: VmSpec): HostVmSpec {
    const bootFile = (f: BootFile) => (typeof f === 'string' ? f : this.o.cache.path(f.image.sha256));
    const boot = spec.boot && {
      ...spec.boot,
      kernel: bootFile(spec.boot.kernel),
      ...(spec.boot.initrd !== undefined ? { initrd: bootFile(spec.boot.initrd) } : {}),
    };
    return {
      ...spec,
      ...(boot ? { boot } : {}),
      disks: spec.disks.map((d, i) =>
        'path' in d
          ? d
          : {
              path: this.overlayPath(spec.id, i),
              format: 'qcow2' as const,
              ...('readonly' in d && d.readonly !== undefined ? { readonly: d.readonly } : {}),
              ...(d.serial !== undefined ? { serial: d.serial } : {}),
            },
      ),
    };
  }

  hasImageDisks(spec: VmSpec): boolean {
    return spec.disks.some((d) => !('path' in d)) || bootImages(spec).length > 0;
  }

  /**
   * For every image disk: policy check, image fetched if needed and pinned, overlay created. Each
   * step registers its undo on `r`.
   */
  async prepare(spec: VmSpec, r: Reverter, log: Logger = this.o.log): Promise<void> {
    // kernel and initrd images are used in place from the cache (read-only), pinned like bases
    for (const [role, ref] of bootImages(spec)) {
      const owner = `${this.owner(spec.id)}/${role}`;
      await this.o.cache.acquire(ref, owner, deployActor(spec));
      r.add(`release ${role} image ${ref.sha256}`, () => this.o.cache.release(owner));
    }
    const images = spec.disks
      .map((d, i) => [d, i] as const)
      .filter((x): x is [ImageDiskSpec, number] => 'image' in x[0]);
    const blanks = spec.disks
      .map((d, i) => [d, i] as const)
      .filter((x): x is [BlankDiskSpec, number] => 'blank' in x[0]);
    if (images.length === 0 && blanks.length === 0) return;
    const who = deployActor(spec);
    // every image is checked against the policy before anything is downloaded
    for (const [d] of images) this.checkPolicy(d, who);
    await makeDir(this.vmDir(spec.id));
    r.add('remove instance directory', () => removePath(this.vmDir(spec.id)));
    // blank disks first: sparse qcow2, O(1) whatever their size
    for (const [d, i] of blanks) {
      await this.templates.blank(this.overlayPath(spec.id, i), d.sizeMiB * MiB);
      log.info({ disk: i, blank: d.blank, sizeMiB: d.sizeMiB }, 'blank disk created');
    }
    if (images.length === 0) return;
    // images are fetched concurrently; overlays are created once all are there
    const settled = await Promise.allSettled(
      images.map(async ([d, i]) => {
        const owner = this.owner(spec.id, i);
        const base = await this.o.cache.acquire(d.image, owner, who);
        r.add(`release image ${base.sha256}`, () => this.o.cache.release(owner));
        return base;
      }),
    );
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const bases = settled.map((s) => (s as PromiseFulfilledResult<ImageRecord>).value);
    for (const [k, [d, i]] of images.entries()) {
      const base = bases[k]!;
      this.checkPolicy(d, who, base);
      let size: number | undefined;
      if (d.sizeGiB !== undefined) {
        size = d.sizeGiB * GiB;
        if (size < base.virtualSize) {
          throw new DiskOperationError(
            `disk ${i}: sizeGiB ${d.sizeGiB} is smaller than image ${base.sha256} (${base.virtualSize} bytes); disks can only grow`,
            { disk: i, sizeGiB: d.sizeGiB, imageVirtualSize: base.virtualSize },
          );
        }
      }
      await this.templates.overlay(this.overlayPath(spec.id, i), this.o.cache.path(base.sha256), base.format, size);
      log.info({ disk: i, image: base.sha256, sizeBytes: size ?? base.virtualSize }, 'instance disk created');
    }
  }

  private checkPolicy(d: ImageDiskSpec, who: Actor, cached = this.o.cache.find(d.image.sha256)): void {
    const s = refSubject(d.image);
    this.o.policy.enforce(
      {
        ...s,
        otherDigests: [...(s.otherDigests ?? []), cached?.sha256, cached?.sourceSha256],
        url: s.url ?? cached?.sourceUrl,
        endorser: s.endorser ?? cached?.endorser,
      },
      'deploy',
      who,
    );
  }

  /** Removes the VM's overlays and releases their bases. */
  async remove(vmId: string): Promise<void> {
    await removePath(this.vmDir(vmId));
    this.o.cache.release(this.owner(vmId));
  }

  /**
   * The disk VM disks live on, for the scheduler (host info): the file system of the instance directory
   * and what the instance disks take there, rounded down to MiB so that small writes do not make the
   * information change.
   */
  async capacity(): Promise<{ path: string; totalBytes: number; freeBytes: number; instanceBytes: number }> {
    await makeDir(this.o.dir);
    const [fs, used] = await Promise.all([freeSpace(this.o.dir), this.usage()]);
    const mib = (n: number) => Math.floor(n / MiB) * MiB;
    return { path: this.o.dir, totalBytes: mib(fs.totalBytes), freeBytes: mib(fs.freeBytes), instanceBytes: mib(used) };
  }

  /** Bytes the overlays of every VM take on disk (allocated, not virtual). */
  async usage(): Promise<number> {
    let total = 0;
    for (const vm of await listDir(this.o.dir)) {
      for (const f of await listDir(this.vmDir(vm))) total += await allocatedBytes(join(this.vmDir(vm), f));
    }
    return total;
  }
}
