// Instance types (flavours): named CPU, memory and disk sizes, seeded with StratusLab's names
// (t1.micro ... c1.xlarge). Admins add and remove types; VMs refer to them by name.

import { type Static, Type } from '@sinclair/typebox';
import { ConflictError, NotFoundError } from '../../common/errors.ts';
import { type Db, migrate } from '../../common/sqlite.ts';

export const TypeName = Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z0-9][a-z0-9.-]*$' });
export const InstanceType = Type.Object(
  {
    name: TypeName,
    vcpus: Type.Integer({ minimum: 1, maximum: 256 }),
    memoryMiB: Type.Integer({ minimum: 16, maximum: 4_194_304 }),
    diskGiB: Type.Integer({ minimum: 0, maximum: 65_536, description: 'Root disk size; 0 keeps the image size' }),
  },
  { additionalProperties: false },
);
export type InstanceType = Static<typeof InstanceType>;

/** StratusLab's instance types (its quarterly reports list them by these names). */
export const DEFAULT_TYPES: InstanceType[] = [
  { name: 't1.micro', vcpus: 1, memoryMiB: 128, diskGiB: 0 },
  { name: 'm1.small', vcpus: 1, memoryMiB: 256, diskGiB: 1 },
  { name: 'm1.large', vcpus: 2, memoryMiB: 512, diskGiB: 2 },
  { name: 'm1.xlarge', vcpus: 2, memoryMiB: 1024, diskGiB: 4 },
  { name: 'c1.medium', vcpus: 2, memoryMiB: 256, diskGiB: 1 },
  { name: 'c1.xlarge', vcpus: 4, memoryMiB: 2048, diskGiB: 8 },
];

const MIGRATIONS = [
  `CREATE TABLE instance_types (
     name TEXT PRIMARY KEY,
     vcpus INTEGER NOT NULL,
     memory_mib INTEGER NOT NULL,
     disk_gib INTEGER NOT NULL
   )`,
];

interface Row {
  name: string;
  vcpus: number;
  memory_mib: number;
  disk_gib: number;
}
const toType = (r: Row): InstanceType => ({
  name: r.name,
  vcpus: r.vcpus,
  memoryMiB: r.memory_mib,
  diskGiB: r.disk_gib,
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
      .prepare('INSERT INTO instance_types (name, vcpus, memory_mib, disk_gib) VALUES (?, ?, ?, ?)')
      .run(t.name, t.vcpus, t.memoryMiB, t.diskGiB);
    return t;
  }

  delete(name: string): void {
    this.get(name);
    this.db.prepare('DELETE FROM instance_types WHERE name = ?').run(name);
  }
}
