// Stopping a guest politely: ask for an ACPI shutdown, wait for the domain to stop (lifecycle event, or a
// poll for when an event is lost), and destroy it when the grace period ends. This is agent policy; the
// libvirt driver only offers the single calls (shutdownDomain, destroyDomain, getDomain).

import { StratusError } from '../../common/errors.ts';
import { type LibvirtConnection, LibvirtError } from '../../drivers/libvirt/index.ts';

/** A guest did not shut down within its grace period (and `force` was false). */
export class ShutdownTimeoutError extends StratusError {
  constructor(uuid: string, timeoutMs: number) {
    super('STRATUS_ERR_SHUTDOWN_TIMEOUT', `domain ${uuid} did not shut down within ${timeoutMs} ms`, {
      status: 504,
      details: { uuid, timeoutMs },
    });
  }
}

export interface GracefulStopOptions {
  /** Grace period before the domain is destroyed (default 60 s). */
  timeoutMs?: number;
  /** Destroy when the grace period ends (default true); false rejects with ShutdownTimeoutError. */
  force?: boolean;
  /** How often to poll the domain's state besides listening to events (default 500 ms). */
  pollMs?: number;
}

/** Resolves with how the guest ended: by itself, or destroyed at the end of its grace period. */
export async function gracefulStop(
  conn: LibvirtConnection,
  uuid: string,
  opts: GracefulStopOptions = {},
): Promise<{ forced: boolean }> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const force = opts.force ?? true;
  if (!(await conn.getDomain(uuid)).active) return { forced: false };
  let finish: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    const onEvent = (e: { uuid: string; event: string }) => {
      if (e.uuid === uuid && e.event === 'stopped') finish();
    };
    const poll = setInterval(() => {
      conn.getDomain(uuid).then(
        (s) => !s.active && finish(),
        () => finish(),
      );
    }, opts.pollMs ?? 500);
    finish = () => {
      clearInterval(poll);
      conn.off('lifecycle', onEvent);
      resolve();
    };
    conn.on('lifecycle', onEvent);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await conn.shutdownDomain(uuid);
    const timedOut = await Promise.race([
      stopped.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), timeoutMs);
      }),
    ]);
    if (!timedOut) return { forced: false };
  } finally {
    clearTimeout(timer);
    finish();
  }
  if (!force) throw new ShutdownTimeoutError(uuid, timeoutMs);
  try {
    await conn.destroyDomain(uuid);
  } catch (err) {
    // it may have stopped at the last moment
    if (!(err instanceof LibvirtError) || (await conn.getDomain(uuid)).active) throw err;
  }
  return { forced: true };
}
