// Instance types (flavours): named CPU, memory, disk and swap sizes, kept as data in SQLite and seeded
// once with StratusLab's catalogue (t1.micro ... c1.xlarge). Admins add and remove types (`stratus type
// create/delete`); VMs refer to them by name and keep their sizes when a type changes.

import { ConflictError, NotFoundError } from '../../common/errors.ts';
import { type Db, migrate } from '../../common/sqlite.ts';

export { InstanceType, TypeName } from '../../protocol/instance-type.ts';
import type { InstanceType } from '../../protocol/instance-type.ts';

/** StratusLab's instance types (stratus-run-instance -t), each with swap equal to its memory. */
export const DEFAULT_TYPES: InstanceType[] = [
  { name: 't1.micro', vcpus: 1, memoryMiB: 512, diskGiB: 0, swapMiB: 512 },
  { name: 'm1.small', vcpus: 1, memoryMiB: 1536, diskGiB: 0, swapMiB: 1536 },
  { name: 'm1.medium', vcpus: 1, memoryMiB: 3072, diskGiB: 0, swapMiB: 3072 },
  { name: 'm1.large', vcpus: 2, memoryMiB: 6144, diskGiB: 0, swapMiB: 6144 },
  { name: 'm1.xlarge', vcpus: 4, memoryMiB: 8192, diskGiB: 0, swapMiB: 8192 },
  { name: 'c1.medium', vcpus: 2, memoryMiB: 1536, diskGiB: 0, swapMiB: 1536 },
  { name: 'c1.xlarge', vcpus: 4, memoryMiB: 6144, diskGiB: 0, swapMiB: 6144 },
];

const MIGRATIONS = [
  `CREATE TABLE instance_types (
     name TEXT PRIMARY KEY,
     vcpus INTEGER NOT NULL,
     memory_mib INTEGER NOT NULL,
     disk_gib INTEGER NOT NULL
   )`,
  `ALTER TABLE instance_types ADD COLUMN swap_mib INTEGER NOT NULL DEFAULT 0`,
];

interface Row {
  name: string;
  vcpus: number;
  memory_mib: number;
  disk_gib: number;
  swap_mib: number;
}
const toType = (r: Row): InstanceType => ({
  name: r.name,
  vcpus: r.vcpus,
  memoryMiB: r.memory_mib,
  diskGiB: r.disk_gib,
  swapMiB: r.swap_mib,
});

export class InstanceTypeStore {
  constructor(private readonly db: Db) {
    migrate(db, 'instance-types', MIGRATIONS);
    const count = (db.prepare('SELECT COUNT(*) AS n FROM instance_types').get() as { n: number }).n;
    if (count === 0) for (const t of DEFAULT_TYPES) this.create(t);
  }

  list(): InstanceType[] {
    return (this.db.prepare('SELECT * FROM instance_types ORDER BY vcpus, memory_mib, name').all() as Row[]).map(
      toType,
    );
  }

  get(name: string): InstanceType {
    const r = this.db.prepare('SELECT * FROM instance_types WHERE name = ?').get(name) as Row | undefined;
    if (!r) throw new NotFoundError('instance type', name);
    return toType(r);
  }

  create(t: InstanceType): InstanceType {
    if (this.db.prepare('SELECT 1 FROM instance_types WHERE name = ?').get(t.name)) {
      throw new ConflictError(`instance type ${t.name} already exists`, { name: t.name });
    }
    this.db
      .prepare('INSERT INTO instance_types (name, vcpus, memory_mib, disk_gib, swap_mib) VALUES (?, ?, ?, ?, ?)')
      .run(t.name, t.vcpus, t.memoryMiB, t.diskGiB, t.swapMiB ?? 0);
    return this.get(t.name);
  }

  delete(name: string): void {
    this.get(name);
    this.db.prepare('DELETE FROM instance_types WHERE name = ?').run(name);
  }
}
