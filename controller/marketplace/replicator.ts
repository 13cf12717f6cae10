// Replication between sites: every `mirror_interval_s` the controller pulls each configured feed
// (another site's /v1/marketplace/feed) and hands the entries to MarketplaceService.ingest, which
// verifies every one against this site's trust store. Nothing is trusted because of where it came from:
// a feed may be served over plain HTTP or by a compromised site, and a tampered entry is refused and
// logged. The outcome of the last pull of each mirror is kept for `stratus market mirrors`.

import type { Logger } from 'pino';
import type { IngestResult, MarketplaceService } from './service.ts';

export interface MirrorStatus {
  url: string;
  lastPullAt: number | null;
  ok: boolean;
  error: string | null;
  result: IngestResult | null;
}

const MAX_FEED_BYTES = 64 * 1024 * 1024;

export class Replicator {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly status = new Map<string, MirrorStatus>();

  constructor(
    private readonly d: {
      mirrors: string[];
      intervalMs: number;
      timeoutMs: number;
      service: MarketplaceService;
      log: Logger;
    },
  ) {
    for (const url of d.mirrors) this.status.set(url, { url, lastPullAt: null, ok: false, error: null, result: null });
  }

  mirrors(): MirrorStatus[] {
    return [...this.status.values()];
  }

  start(): void {
    if (this.d.mirrors.length === 0) return;
    const tick = () => {
      void this.pullAll().finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.d.intervalMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Pulls every mirror now (one pull at a time; a caller during a pull waits for it). */
  pullAll(): Promise<void> {
    this.running ??= (async () => {
      for (const url of this.d.mirrors) await this.pull(url);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pull(url: string): Promise<void> {
    const st = this.status.get(url)!;
    st.lastPullAt = Date.now();
    try {
      const res = await fetch(url, {
        signal: AbortSignal.timeout(this.d.timeoutMs),
        headers: { accept: 'application/json' },
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const len = Number(res.headers.get('content-length') ?? 0);
      if (len > MAX_FEED_BYTES) throw new Error(`feed larger than ${MAX_FEED_BYTES} bytes`);
      const text = await res.text();
      if (text.length > MAX_FEED_BYTES) throw new Error(`feed larger than ${MAX_FEED_BYTES} bytes`);
      const body = JSON.parse(text) as { items?: unknown };
      if (!Array.isArray(body.items)) throw new Error('not a marketplace feed (no items array)');
      const result = this.d.service.ingest(body.items, url);
      Object.assign(st, { ok: true, error: null, result });
      this.d.log.info(
        {
          mirror: url,
          added: result.added,
          updated: result.updated,
          unchanged: result.unchanged,
          refused: result.refused.length,
        },
        'marketplace mirror pulled',
      );
    } catch (err) {
      const msg = (err as Error).message;
      Object.assign(st, { ok: false, error: msg });
      this.d.log.warn({ mirror: url, err: msg }, 'marketplace mirror pull failed');
    }
  }
}
