// The controller's SQLite database (<state_dir>/controller.db, WAL). Each feature (fleet, networks,
// volumes, ...) applies its own migrations with common/sqlite.ts `migrate(db, feature, ...)` and keeps
// its own tables; this module only opens the file and closes it.

import { dirname, join } from 'node:path';
import { type Db, openDatabase } from '../common/sqlite.ts';
import { ensureDirSync } from '../drivers/host-fs.ts';

export class ControllerDb {
  readonly db: Db;

  constructor(readonly path: string) {
    ensureDirSync(dirname(path));
    // at 10,000 hosts the file holds tens of MB (fleet, history, VMs): SQLite's 2 MiB page cache made
    // each lookup by key read pages again (bench api-load); pages are read through a memory map
    this.db = openDatabase(path, { cacheMiB: 64, mmapMiB: 256 });
  }

  static inStateDir(stateDir: string): ControllerDb {
    return new ControllerDb(join(stateDir, 'controller.db'));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
