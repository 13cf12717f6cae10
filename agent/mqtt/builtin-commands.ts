// The built-in commands of the agent: deploy (VmService.create), the power actions (VmService.act),
// delete (VmService.delete), vm.adopt (VmService.adopt) and console (the tail of the serial console
// log). Each reports progress and refuses to start past its deadline. Deploy and delete pass their
// idempotency key down to the operation journal; `interruptedOutcome` answers a key that a crash cut
// short from that journal.

import { readTail } from '../../drivers/host-fs.ts';
import {
  AdoptArgs,
  type Command,
  ConsoleArgs,
  DeleteArgs,
  DeployArgs,
  POWER_COMMANDS,
  VmActionArgs,
} from '../../protocol/mqtt/index.ts';
import type { VmService } from '../vm/vm-service.ts';
import type { Outcome } from './command-store.ts';
import type { CommandRegistry } from './commands.ts';

export function registerBuiltinCommands(
  registry: CommandRegistry,
  vms: VmService,
  afterDelete: (id: string) => void = () => undefined,
): void {
  registry.register('deploy', DeployArgs, async (args, ctx) => {
    ctx.progress('creating', 10);
    const view = await vms.create(args.spec, args.start, {
      key: ctx.key,
      ...(args.volumes ? { volumes: args.volumes } : {}),
    });
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
    await vms.delete(args.vm, ctx.key);
    afterDelete(args.vm);
    return { deleted: args.vm };
  });
  registry.register('vm.adopt', AdoptArgs, async (args, ctx) => {
    ctx.progress('adopting', 0);
    return vms.adopt(args.spec, ctx.key);
  });
  registry.register('console', ConsoleArgs, async (args) => ({
    text: await readTail(vms.get(args.vm).consoleLog, args.bytes ?? 65536),
  }));
}

/**
 * The real outcome of a deploy or delete that was running when an earlier agent process ended, from
 * the operation journal (recovery has settled it by then): 'rerun' when it was undone or never began.
 */
export function interruptedOutcome(vms: VmService, cmd: Command): Outcome | 'rerun' | 'pending' {
  const op = vms.journal.byKey(cmd.key);
  if (!op) return 'rerun';
  if (op.status === 'running' || op.status === 'undoing') return 'pending';
  if (op.status === 'undone') return op.error && op.error.status < 500 ? { ok: false, error: op.error } : 'rerun';
  if (op.kind === 'delete') return { ok: true, result: { deleted: op.vm } };
  if (op.kind === 'create') {
    try {
      return { ok: true, result: vms.get(op.vm) };
    } catch {
      return { ok: true, result: { id: op.vm, deleted: true } }; // created, then deleted since
    }
  }
  return 'rerun';
}
