// Watches tgtd so that its targets always match the database: tgtd keeps targets in memory only and
// forgets them when it restarts. Each check is cheap (is tgtd answering? is it the same instance?); a
// full restore runs at start, when tgtd comes back or was replaced by a new instance, and every
// `fullIntervalMs` to repair drift (a target removed by hand, an ACL changed).

import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Tgtadm } from '../../drivers/tgtadm.ts';
import type { RestoreReport } from './iscsi-backend.ts';

export interface TgtdWatchOptions {
  tgt: Tgtadm;
  log: Logger;
  restore: () => Promise<RestoreReport>;
  intervalMs: number;
  fullIntervalMs: number;
  /**
   * True while the database holds no iSCSI volume: nothing to restore, so tgtd is checked only every
   * `fullIntervalMs` (each check forks tgtadm from the controller, whose heap is large at fleet scale).
   */
  idle?: () => boolean;
}

interface WatchEvents {
  down: [];
  restored: [RestoreReport & { reason: string }];
}

export class TgtdWatch extends EventEmitter<WatchEvents> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private up: boolean | undefined;
  private instance: string | null = null;
  private lastFull = 0;
  private lastCheck = 0;
  private stopped = false;

  constructor(private readonly o: TgtdWatchOptions) {
    super();
  }

  /** True once tgtd answered and the targets were restored. */
  get healthy(): boolean {
    return this.up === true;
  }

  /** Runs a first check (restoring the targets if tgtd is up) and then keeps checking. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.check();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.check().finally(() => this.schedule());
    }, this.o.intervalMs);
    this.timer.unref();
  }

  /** One check now (callers may also use it to force a comparison). */
  check(): Promise<void> {
    this.running ??= this.checkOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async checkOnce(): Promise<void> {
    if (this.up !== undefined && Date.now() - this.lastCheck < this.o.fullIntervalMs && this.o.idle?.()) return;
    this.lastCheck = Date.now();
    let alive = false;
    try {
      alive = await this.o.tgt.ping();
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'tgtd check failed');
    }
    if (!alive) {
      if (this.up !== false) {
        this.o.log.warn(
          { controlPort: this.o.tgt.controlPort },
          'tgtd is not answering; targets will be restored when it is back',
        );
        this.emit('down');
      }
      this.up = false;
      return;
    }
    const instance = await this.o.tgt.instanceId();
    const reason =
      this.up === undefined
        ? 'start'
        : !this.up
          ? 'tgtd back'
          : instance !== this.instance
            ? 'tgtd restarted'
            : Date.now() - this.lastFull >= this.o.fullIntervalMs
              ? 'periodic'
              : '';
    if (!reason) return;
    try {
      const report = await this.o.restore();
      this.instance = instance;
      this.lastFull = Date.now();
      this.up = true;
      const level = report.created + report.repaired + report.removed + report.failed.length > 0 ? 'info' : 'debug';
      this.o.log[level]({ reason, ...report }, 'tgtd targets restored from the database');
      this.emit('restored', { ...report, reason });
    } catch (err) {
      // tgtd went away in the middle: the next check starts over
      this.o.log.warn({ reason, err: (err as Error).message }, 'restoring tgtd targets failed; will retry');
      this.up = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
