// A bounded, ordered queue of QoS 1 messages (the host event stream) that survives broker outages:
// messages are sent in order with a small window, removed only when the broker acknowledges them,
// and sent again after a reconnect if they were not. Beyond `max` the oldest are dropped (and
// counted). Receivers drop what they already applied by `seq`, so a resend is harmless.

export interface OutboxItem {
  topic: string;
  payload: Buffer;
  seq: number;
}

export type SendFn = (item: OutboxItem, done: (err?: Error) => void) => void;

export class Outbox {
  private items: (OutboxItem & { state: 'queued' | 'sent' | 'acked' })[] = [];
  private generation = 0;
  private send: SendFn | undefined;
  dropped = 0;

  constructor(
    private readonly max: number,
    private readonly window = 64,
  ) {}

  get length(): number {
    return this.items.length;
  }

  push(item: OutboxItem): void {
    this.items.push({ ...item, state: 'queued' });
    while (this.items.length > this.max) {
      this.items.shift();
      this.dropped++;
    }
    this.pump();
  }

  /** Starts sending with `send` (the link is connected); everything unacknowledged goes again. */
  online(send: SendFn): void {
    this.generation++;
    for (const it of this.items) if (it.state === 'sent') it.state = 'queued';
    this.send = send;
    this.pump();
  }

  offline(): void {
    this.generation++;
    this.send = undefined;
    for (const it of this.items) if (it.state === 'sent') it.state = 'queued';
  }

  private pump(): void {
    const send = this.send;
    if (!send) return;
    const gen = this.generation;
    let inflight = this.items.filter((i) => i.state === 'sent').length;
    for (const it of this.items) {
      if (inflight >= this.window) break;
      if (it.state !== 'queued') continue;
      it.state = 'sent';
      inflight++;
      send(it, (err) => {
        if (gen !== this.generation) return; // a callback of a dead connection
        if (err) {
          it.state = 'queued';
          return;
        }
        it.state = 'acked';
        while (this.items[0]?.state === 'acked') this.items.shift();
        this.pump();
      });
    }
  }

  /** Resolves when the queue is empty or `timeoutMs` elapsed (used on clean shutdown). */
  async drain(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.items.length > 0 && this.send && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }
}
