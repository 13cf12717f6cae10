// The agent's MQTT commands for migration (protocol/migration.ts): prepare, finish and abort on the
// target, perform (with progress) on the source. See agent/vm/migration.ts.

import {
  MigrateAbortArgs,
  MigrateFinishArgs,
  MigratePerformArgs,
  MigratePrepareArgs,
} from '../../protocol/migration.ts';
import type { CommandRegistry } from '../mqtt/commands.ts';
import type { VmMigration } from './migration.ts';

export function registerMigrationCommands(
  registry: CommandRegistry,
  migration: VmMigration,
  afterMigrated: (id: string) => void = () => undefined,
): void {
  registry.register('migrate.check', MigrateAbortArgs, async (args) => migration.check(args.vm));
  registry.register('migrate.prepare', MigratePrepareArgs, async (args, ctx) => {
    ctx.progress('preparing', 10);
    return migration.prepare(args.spec, args.source);
  });
  registry.register('migrate.perform', MigratePerformArgs, async (args, ctx) => {
    const res = await migration.perform(args.vm, args.target, (step, pct) => ctx.progress(step, pct));
    afterMigrated(args.vm);
    return res;
  });
  registry.register('migrate.finish', MigrateFinishArgs, async (args) => migration.finish(args.vm, args.desired));
  registry.register('migrate.abort', MigrateAbortArgs, async (args) => migration.abort(args.vm));
}
