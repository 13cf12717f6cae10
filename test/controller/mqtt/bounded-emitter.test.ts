// tier: unit
// The embedded broker's message bus survives a long queue that drains at once: aedes's plain mqemitter
// overflows the stack there (the crash of the controller at 10,000 hosts), the bounded one delivers
// every message, in order.
import mqemitter from 'mqemitter';
import t from 'tap';
import { boundedEmitter } from '../../../controller/mqtt/bounded-emitter.ts';

const MESSAGES = 30_000;

/** Queues MESSAGES behind one slow delivery, then lets the queue drain with deliveries that complete at once. */
function drain(mq: ReturnType<typeof mqemitter>): Promise<{ delivered: number[]; error?: Error }> {
  return new Promise((resolve) => {
    const delivered: number[] = [];
    let first = true;
    mq.on('hosts/+/metrics', (msg, done) => {
      delivered.push(msg['n'] as number);
      if (first) {
        first = false;
        setTimeout(done, 10); // the one slow delivery: the others queue behind it
      } else done();
      if (delivered.length === MESSAGES) resolve({ delivered });
    });
    try {
      for (let n = 0; n < MESSAGES; n++) mq.emit({ topic: `hosts/h${n % 100}/metrics`, n });
    } catch (error) {
      resolve({ delivered, error: error as Error });
    }
    process.once('uncaughtException', (error) => resolve({ delivered, error }));
  });
}

t.test('the plain mqemitter overflows the stack when its queue drains at once (the crash)', async (t) => {
  const before = process.listeners('uncaughtException');
  const r = await drain(mqemitter({ concurrency: 1 }));
  for (const l of process.listeners('uncaughtException')) if (!before.includes(l)) process.off('uncaughtException', l);
  t.type(r.error, RangeError, 'RangeError');
  t.match(r.error?.message, /Maximum call stack size exceeded/);
});

t.test('the bounded emitter delivers every queued message, in order, without overflowing', async (t) => {
  const r = await drain(boundedEmitter({ concurrency: 1 }));
  t.equal(r.error, undefined);
  t.equal(r.delivered.length, MESSAGES);
  t.ok(
    r.delivered.every((n, i) => n === i),
    'in the order they were emitted',
  );
});

t.test('with room to spare it is the plain emitter: messages run at once', async (t) => {
  const mq = boundedEmitter({ concurrency: 100 });
  const seen: number[] = [];
  mq.on('a/b', (msg, done) => {
    seen.push(msg['n'] as number);
    done();
  });
  for (let n = 0; n < 10; n++) mq.emit({ topic: 'a/b', n });
  t.same(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'delivered synchronously, in order');
});
