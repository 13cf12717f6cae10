// The agent's operations, one per command of protocol/mqtt/command-catalogue.ts, each taking the
// catalogue's arguments and returning its result. This is the one place that maps a request onto the
// VM, image and volume services: the MQTT executor registers every entry, and the local HTTP API calls
// the same entries, so the two front doors cannot drift apart.

import { readTail } from '../drivers/host-fs.ts';
import { uploadFile } from '../drivers/http-upload.ts';
import {
  type AgentCommand,
  type CommandArgs,
  type CommandResult,
  POWER_COMMANDS,
  type PowerCommand,
} from '../protocol/mqtt/command-catalogue.ts';
import type { ImageCache } from './images/cache.ts';
import type { SaveAsService } from './images/save-as.ts';
import type { SnapshotService } from './images/snapshots.ts';
import type { VmMigration } from './vm/migration.ts';
import type { VmService } from './vm/vm-service.ts';
import { interruptedOutcome } from './vm/recovery.ts';
import { OperationPendingError } from './errors.ts';
import type { VolumeAttacher } from './volumes/attacher.ts';

/** What an operation may use of its caller: progress reports and the caller's deadline. */
export interface OperationContext {
  /** Milliseconds since the epoch after which the caller no longer waits (none for the local API). */
  deadline?: number;
  /** The command's idempotency key (MQTT): journaled operations record it, so a crash is settled by it. */
  key?: string;
  progress(step: string, pct?: number): void;
}

export type Operation<K extends AgentCommand> = (
  args: CommandArgs<K>,
  ctx: OperationContext,
) => Promise<CommandResult<K>>;
export type Operations = { [K in AgentCommand]: Operation<K> };

export interface OperationServices {
  vms: VmService;
  snapshots: SnapshotService;
  saveAs: SaveAsService;
  cache: ImageCache;
  volumes: VolumeAttacher;
  migration: VmMigration;
  /** Called after a VM is deleted (or migrated away) (the MQTT side clears its retained state). */
  afterDelete?: (id: string) => void;
}

/** The context of callers that neither follow progress nor set a deadline (the local API). */
export function quietContext(): OperationContext {
  return { progress: () => undefined };
}

function powerOperation(s: OperationServices, action: PowerCommand): Operation<PowerCommand> {
  return async (args, ctx) => {
    ctx.progress(action, 0);
    const opts: { force?: boolean; timeoutMs?: number } = {};
    if (args.force !== undefined) opts.force = args.force;
    if (args.timeoutS !== undefined) opts.timeoutMs = args.timeoutS * 1000;
    // a stop without its own grace period ends before the caller stops waiting (else: shutdown_timeout_s)
    else if (action === 'stop' && ctx.deadline !== undefined) {
      opts.timeoutMs = Math.max(1000, ctx.deadline - Date.now() - 500);
    }
    return s.vms.act(args.vm, action, opts);
  };
}

/**
 * Runs a journaled operation, unless its key already has a settled outcome in the journal: a command
 * answered with a transient failure (libvirt gone mid-call) whose operation recovery then finished
 * gets that operation's result when it is sent again, not a second run (a second snapshot of the
 * same name would be refused). Still being settled: a transient refusal.
 */
async function journaled<T>(s: OperationServices, ctx: OperationContext, run: () => Promise<T>): Promise<T> {
  if (ctx.key) {
    const before = interruptedOutcome(s.vms, ctx.key);
    if (before === 'pending') {
      const op = s.vms.journal.byKey(ctx.key)!;
      throw new OperationPendingError(op.vm, op.kind);
    }
    if (before !== 'rerun' && before.ok) return before.result as T;
  }
  return run();
}

export function createOperations(s: OperationServices): Operations {
  const power = Object.fromEntries(POWER_COMMANDS.map((a) => [a, powerOperation(s, a)])) as {
    [K in PowerCommand]: Operation<K>;
  };
  return {
    ...power,
    deploy: async (args, ctx) => {
      ctx.progress('creating', 10);
      const view = await s.vms.create(args.spec, args.start ?? true, {
        ...(ctx.key ? { key: ctx.key } : {}),
        ...(args.volumes ? { volumes: args.volumes } : {}),
      });
      ctx.progress(args.start === false ? 'defined' : 'started', 100);
      return view;
    },
    delete: async (args, ctx) => {
      ctx.progress('deleting', 0);
      await s.vms.delete(args.vm, ctx.key);
      s.afterDelete?.(args.vm);
      return { deleted: args.vm };
    },
    'vm.adopt': async (args, ctx) => {
      ctx.progress('adopting', 0);
      return s.vms.adopt(args.spec, ctx.key);
    },
    console: async (args) => ({ text: await readTail(s.vms.get(args.vm).consoleLog, args.bytes ?? 65536) }),
    'snapshot.list': async (args) => ({ items: await s.snapshots.list(args.vm) }),
    'snapshot.create': async (args, ctx) => {
      ctx.progress('snapshotting', 0);
      const { vm, ...req } = args;
      return journaled(s, ctx, () => s.snapshots.create(vm, req, ctx.key));
    },
    'snapshot.revert': async (args, ctx) => {
      ctx.progress('reverting', 0);
      return journaled(s, ctx, () => s.snapshots.revert(args.vm, args.name, args.state ?? 'snapshot', ctx.key));
    },
    'snapshot.delete': async (args, ctx) => journaled(s, ctx, () => s.snapshots.delete(args.vm, args.name, ctx.key)),
    'save-as': async (args, ctx) => {
      ctx.progress('saving', 0);
      const image = await journaled(s, ctx, () =>
        s.saveAs.saveAs(args.vm, { disk: args.disk ?? 0, name: args.name }, ctx.key, !!args.uploadUrl),
      );
      if (args.uploadUrl) {
        ctx.progress('uploading', 50);
        await uploadFile(s.cache.path(image.sha256), args.uploadUrl);
      }
      return image;
    },
    'volume.info': async () => s.volumes.info(),
    'volume.attach': async (args, ctx) => {
      ctx.progress('attaching', 10);
      return journaled(s, ctx, () => s.volumes.attach(args.vm, args.attachment, ctx.key));
    },
    'volume.detach': async (args, ctx) => {
      ctx.progress('detaching', 10);
      return journaled(s, ctx, () => s.volumes.detach(args.vm, args.volume, ctx.key));
    },
    'migrate.check': async (args) => s.migration.check(args.vm),
    'migrate.prepare': async (args, ctx) => {
      ctx.progress('preparing', 10);
      return s.migration.prepare(args.spec, args.source, args.volumes, args.live);
    },
    'migrate.perform': async (args, ctx) => {
      const res = await s.migration.perform(
        args.vm,
        args.target,
        (step, pct) => ctx.progress(step, pct),
        args.bandwidthMiBs,
        ctx.key,
      );
      s.afterDelete?.(args.vm);
      return res;
    },
    'migrate.finish': async (args) => s.migration.finish(args.vm, args.desired),
    'migrate.abort': async (args) => s.migration.abort(args.vm),
    'migrate.settle': async (args) => {
      const res = await s.migration.settle(args.vm, args.moved);
      if (args.moved && res.settled) s.afterDelete?.(args.vm);
      return res;
    },
    'migrate.cancel': async (args) => s.migration.cancel(args.vm),
  };
}
