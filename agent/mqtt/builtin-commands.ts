// The built-in commands of the agent: deploy (VmService.create), the power actions (VmService.act)
// delete (VmService.delete) and console (the tail of the serial console log). Each reports progress and refuses to start past its deadline.

import { readTail } from '../../drivers/host-fs.ts';
import { ConsoleArgs, DeleteArgs, DeployArgs, POWER_COMMANDS, VmActionArgs } from '../../protocol/mqtt/index.ts';
import type { VmService } from '../vm/vm-service.ts';
import type { CommandRegistry } from './commands.ts';

export function registerBuiltinCommands(
  registry: CommandRegistry,
  vms: VmService,
  afterDelete: (id: string) => void = () => undefined,
): void {
  registry.register('deploy', DeployArgs, async (args, ctx) => {
    ctx.progress('creating', 10);
    const view = await vms.create(args.spec, args.start, args.volumes ? { volumes: args.volumes } : {});
    ctx.progress(args.start ? 'started' : 'defined', 100);
    return view;
  });
  for (const action of POWER_COMMANDS) {
    registry.register(action, VmActionArgs, async (args, ctx) => {
      ctx.progress(action, 0);
      const opts: { force?: boolean; timeoutMs?: number } = {};
      if (args.force !== undefined) opts.force = args.force;
      if (args.timeoutS !== undefined) opts.timeoutMs = args.timeoutS * 1000;
      else if (action === 'stop') opts.timeoutMs = Math.max(1000, ctx.deadline - Date.now() - 500);
      return vms.act(args.vm, action, opts);
    });
  }
  registry.register('delete', DeleteArgs, async (args, ctx) => {
    ctx.progress('deleting', 0);
    await vms.delete(args.vm);
    afterDelete(args.vm);
    return { deleted: args.vm };
  });
  registry.register('console', ConsoleArgs, async (args) => ({
    text: await readTail(vms.get(args.vm).consoleLog, args.bytes ?? 65536),
  }));
}
