// MQTT commands of the snapshot feature (list, create, revert, delete a VM's snapshots) and save-as
// (a VM disk made a standalone image, then uploaded to the controller), so the controller's API and
// CLI reach what the agent's services do on the host.

import { uploadFile } from '../../drivers/http-upload.ts';
import {
  SaveAsArgs,
  SnapshotCreateArgs,
  SnapshotDeleteArgs,
  SnapshotListArgs,
  SnapshotRevertArgs,
} from '../../protocol/image.ts';
import type { SaveAsService } from './save-as.ts';
import type { ImageCache } from './cache.ts';
import type { CommandRegistry } from '../mqtt/commands.ts';
import type { SnapshotService } from './snapshots.ts';

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

export function registerSaveAsCommand(registry: CommandRegistry, saveAs: SaveAsService, cache: ImageCache): void {
  registry.register('save-as', SaveAsArgs, async (args, ctx) => {
    ctx.progress('saving', 0);
    const image = await saveAs.saveAs(args.vm, { disk: args.disk ?? 0, name: args.name });
    if (args.uploadUrl) {
      ctx.progress('uploading', 50);
      await uploadFile(cache.path(image.sha256), args.uploadUrl);
    }
    return image;
  });
}
