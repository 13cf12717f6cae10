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
    this.db = openDatabase(path);
  }

  static inStateDir(stateDir: string): ControllerDb {
    return new ControllerDb(join(stateDir, 'controller.db'));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
