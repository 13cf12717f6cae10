// The agent's MQTT commands for volumes: volume.info (initiator name and attach mode, which the
// controller puts in the target's ACL), volume.attach and volume.detach. Both are idempotent, so a
// command replayed after a reconnect does no harm.

import { VolumeAttachArgs, VolumeDetachArgs, VolumeInfoArgs } from '../../protocol/volume.ts';
import type { CommandRegistry } from '../mqtt/commands.ts';
import type { VolumeAttacher } from './attacher.ts';

export function registerVolumeCommands(registry: CommandRegistry, volumes: VolumeAttacher): void {
  registry.register('volume.info', VolumeInfoArgs, async () => volumes.info());
  registry.register('volume.attach', VolumeAttachArgs, async (args, ctx) => {
    ctx.progress('attaching', 10);
    return volumes.attach(args.vm, args.attachment);
  });
  registry.register('volume.detach', VolumeDetachArgs, async (args, ctx) => {
    ctx.progress('detaching', 10);
    return volumes.detach(args.vm, args.volume);
  });
}
