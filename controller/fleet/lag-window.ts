// Ingest lag percentiles over fixed windows (10 s): every message applied in a window counts, up to a
// uniform sample of LAG_SAMPLES of them (reservoir sampling) when more arrive. A ring of the last few
// thousand messages, as before, covered two seconds at 10,000 hosts: whatever ran in those two seconds
// (the scrape reading the figure) weighed as if it were the whole interval.

const LAG_SAMPLES = 32_768;

export class LagWindow {
  private readonly current = new Float64Array(LAG_SAMPLES);
  private seen = 0;
  private started: number;
  /** The last complete window's lags, sorted. */
  private last: Float64Array = new Float64Array(0);

  constructor(
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.started = now();
  }

  add(lagMs: number): void {
    this.rotateIfDue();
    if (this.seen < LAG_SAMPLES) this.current[this.seen] = lagMs;
    else {
      const j = Math.floor(this.random() * (this.seen + 1));
      if (j < LAG_SAMPLES) this.current[j] = lagMs;
    }
    this.seen++;
  }

  /** The lag percentile (p in 0..1, ms) of the last complete window; of the current one until there is one. */
  percentile(p: number): number {
    this.rotateIfDue();
    const s = this.last.length > 0 ? this.last : this.sorted();
    return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  }

  private sorted(): Float64Array {
    return this.current.slice(0, Math.min(this.seen, LAG_SAMPLES)).sort();
  }

  private rotateIfDue(): void {
    const t = this.now();
    if (t - this.started < this.windowMs) return;
    // a window with no message leaves the figure of the last one that had some
    if (this.seen > 0) this.last = this.sorted();
    this.seen = 0;
    this.started = t - ((t - this.started) % this.windowMs);
  }
}
