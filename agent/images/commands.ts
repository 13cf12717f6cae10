// MQTT commands of the snapshot feature: list, create, revert and delete a VM's snapshots, so the
// controller's API (and so the CLI) reaches what the agent's SnapshotService does on the host.

import { SnapshotCreateArgs, SnapshotDeleteArgs, SnapshotListArgs, SnapshotRevertArgs } from '../../protocol/image.ts';
import type { CommandRegistry } from '../mqtt/commands.ts';
import type { SnapshotService } from '../snapshots.ts';

export function registerSnapshotCommands(registry: CommandRegistry, snapshots: SnapshotService): void {
  registry.register('snapshot.list', SnapshotListArgs, async (args) => ({ items: await snapshots.list(args.vm) }));
  registry.register('snapshot.create', SnapshotCreateArgs, async (args, ctx) => {
    ctx.progress('snapshotting', 0);
    const { vm, ...req } = args;
    return snapshots.create(vm, req);
  });
  registry.register('snapshot.revert', SnapshotRevertArgs, async (args, ctx) => {
    ctx.progress('reverting', 0);
    await snapshots.revert(args.vm, args.name, args.state ?? 'snapshot');
    return { reverted: args.name };
  });
  registry.register('snapshot.delete', SnapshotDeleteArgs, async (args) => {
    await snapshots.delete(args.vm, args.name);
    return { deleted: args.name };
  });
}
