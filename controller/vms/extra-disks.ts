// Disks a VM asks for at creation beyond its type's root disk: `--readonly-disk IMAGE` attaches an image
// read-only (the agent fetches and verifies it like the root image; the guest cannot write it). Checked
// at creation (the image must be visible to the owner, available and a disk image), kept per VM in
// table `vm_extra_disks` (feature `vm-extra-disks`) and added to the spec at deploy time after the root.

import { ConflictError, ValidationError } from '../../common/errors.ts';
import { allForIds, type Db, groupBy, migrate } from '../../common/sqlite.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import type { ImageRegistry } from '../images/registry.ts';
import type { VmCreateExtension } from './service.ts';
import type { DeployHook } from './deploy-hook.ts';
import type { SpecBuilder } from './spec-builder.ts';
import type { VmRecord } from './store.ts';

const MIGRATIONS = [
  `CREATE TABLE vm_extra_disks (
     vm_id TEXT NOT NULL,
     position INTEGER NOT NULL,
     image_id TEXT NOT NULL,
     readonly INTEGER NOT NULL,
     PRIMARY KEY (vm_id, position)
   )`,
];

export class ExtraDisks {
  readonly createExtension: VmCreateExtension;
  readonly deployHook: DeployHook;

  constructor(
    private readonly db: Db,
    images: ImageRegistry,
    specs: SpecBuilder,
  ) {
    migrate(db, 'vm-extra-disks', MIGRATIONS);
    this.createExtension = {
      check: (input, who) => {
        const ids = (input.readonlyImages ?? []).map((ref) => {
          const img = images.resolve(ref, who);
          if (img.state !== 'available') throw new ConflictError(`image ${img.name} is ${img.state}`);
          if (img.format === 'kernel' || img.format === 'ramdisk')
            throw new ValidationError(`image ${img.name} is a ${img.format}, not a disk image`);
          return img.id;
        });
        return (vms) => {
          const ins = this.db.prepare(
            'INSERT INTO vm_extra_disks (vm_id, position, image_id, readonly) VALUES (?, ?, ?, 1)',
          );
          for (const vm of vms) for (const [i, id] of ids.entries()) ins.run(vm.id, i, id);
        };
      },
    };
    this.deployHook = {
      name: 'extra-disks',
      prepare: (vm: VmRecord, hostId: string, spec: VmSpec): VmSpec => {
        const rows = this.db
          .prepare('SELECT image_id, readonly FROM vm_extra_disks WHERE vm_id = ? ORDER BY position')
          .all(vm.id) as { image_id: string; readonly: number }[];
        if (rows.length === 0) return spec;
        const disks = rows.map((r) => ({
          image: specs.ref(images.get(r.image_id), hostId),
          readonly: r.readonly === 1,
        }));
        return { ...spec, disks: [...spec.disks, ...disks] };
      },
    };
  }

  /** Image ids of the VM's extra disks, in order. */
  of(vmId: string): string[] {
    return this.ofMany([vmId]).get(vmId) ?? [];
  }

  /** Image ids of the extra disks of many VMs (one query), in order; VMs without any are absent. */
  ofMany(vmIds: readonly string[]): Map<string, string[]> {
    const rows = allForIds<{ vm_id: string; image_id: string }>(
      this.db,
      `SELECT vm_id, image_id FROM vm_extra_disks
       WHERE vm_id IN (SELECT value FROM json_each(?)) ORDER BY vm_id, position`,
      vmIds,
    );
    return new Map([...groupBy(rows, 'vm_id')].map(([vm, rs]) => [vm, rs.map((r) => r.image_id)]));
  }
}
