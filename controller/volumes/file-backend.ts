// The `file` backend: a qcow2 or raw image per volume in a directory that every host mounts at the same
// path (NFS, GPFS, CephFS, ...). Agents open the file directly; there is no per-host access control
// beyond the filesystem's own, so the service's exclusive-use rule is what keeps writers apart.

import { join } from 'node:path';
import type { HostPathGuard } from '../../common/host-paths.ts';
import { ensureDir, removeFile } from '../../drivers/host-fs.ts';
import { create as createImage } from '../../drivers/qemu-img.ts';
import type { VolumeAttachment } from '../../protocol/volume.ts';
import { GIB, type ProvisionRequest, type Provisioned, type VolumeBackend } from './backend.ts';
import type { VolumeRecord } from './store.ts';
import { withinBackingStore } from './errors.ts';

export class FileBackend implements VolumeBackend {
  readonly name = 'file' as const;

  constructor(
    private readonly dir: string,
    /** Volume files only under [controller] allowed_roots, symlinks resolved (agents check again). */
    private readonly paths?: HostPathGuard,
  ) {}

  plan(req: ProvisionRequest): Provisioned {
    return { location: join(this.dir, `volume-${req.id}.${req.format}`), iqn: null, chapUser: null, chapSecret: null };
  }

  async provision(req: ProvisionRequest, plan: Provisioned): Promise<void> {
    await this.paths?.check('file volume', plan.location);
    await ensureDir(this.dir);
    // the directory may be a fresh symlink: judge what it resolves to now that it exists
    await this.paths?.check('file volume', plan.location);
    try {
      await withinBackingStore(req.sizeGiB, () => createImage(plan.location, req.format, req.sizeGiB * GIB));
    } catch (err) {
      await removeFile(plan.location);
      throw err;
    }
  }

  async setAccess(): Promise<void> {
    // a shared filesystem has no per-host export to change
  }

  async destroy(v: VolumeRecord): Promise<void> {
    if (v.location) await removeFile(v.location);
  }

  source(v: VolumeRecord): VolumeAttachment['source'] {
    return { type: 'file', path: v.location, format: v.format };
  }
}
