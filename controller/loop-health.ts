// How well the controller's event loop keeps up: delay of the loop (p99 and max) and the longest
// garbage-collection pause, over windows of 10 s (the values shown are the last complete window's).
// The broker, the ingest and the API share this loop; these say which of them waits, and for how long.
// Exposed on /metrics as stratus_controller_event_loop_delay_*_seconds and *_gc_pause_max_seconds.

import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

export interface LoopWindow {
  delayP99S: number;
  delayMaxS: number;
  gcPauseMaxS: number;
}

export class LoopHealth {
  private readonly delay = monitorEventLoopDelay({ resolution: 10 });
  private readonly gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) this.gcMaxMs = Math.max(this.gcMaxMs, e.duration);
  });
  private gcMaxMs = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The last complete window. */
  last: LoopWindow = { delayP99S: 0, delayMaxS: 0, gcPauseMaxS: 0 };

  constructor(private readonly windowMs = 10_000) {}

  start(): void {
    this.delay.enable();
    this.gc.observe({ entryTypes: ['gc'] });
    this.timer = setInterval(() => this.rotate(), this.windowMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.delay.disable();
    this.gc.disconnect();
  }

  private rotate(): void {
    // the histogram is in ns and counts the resolution's own 10 ms wait: the delay is the excess
    const excess = (ns: number) => Math.max(0, ns / 1e9 - 0.01);
    this.last = {
      delayP99S: excess(this.delay.percentile(99)),
      delayMaxS: excess(this.delay.max),
      gcPauseMaxS: this.gcMaxMs / 1000,
    };
    this.delay.reset();
    this.gcMaxMs = 0;
  }
}
