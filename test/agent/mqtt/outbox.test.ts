// tier: unit
import t from 'tap';
import { Outbox, type OutboxItem } from '../../../agent/mqtt/outbox.ts';

const item = (seq: number): OutboxItem => ({ topic: 't', payload: Buffer.from(String(seq)), seq });

t.test('queued while offline, sent in order when online, removed only once acknowledged', async (t) => {
  const box = new Outbox(100, 4);
  for (let i = 1; i <= 10; i++) box.push(item(i));
  const sent: number[] = [];
  const acks: (() => void)[] = [];
  box.online((it, done) => {
    sent.push(it.seq);
    acks.push(() => done());
  });
  t.same(sent, [1, 2, 3, 4], 'a window of 4 in flight');
  acks.shift()!();
  t.same(sent, [1, 2, 3, 4, 5]);
  t.equal(box.length, 9);
  // connection lost: unacknowledged messages go again, in order, on the next connection
  box.offline();
  const again: number[] = [];
  box.online((it, done) => {
    again.push(it.seq);
    done();
  });
  t.same(again, [2, 3, 4, 5, 6, 7, 8, 9, 10]);
  t.equal(box.length, 0);
});

t.test(
  'bounded: beyond its size the oldest are dropped and counted; late callbacks of a dead link are ignored',
  async (t) => {
    const box = new Outbox(3);
    let stale: (() => void) | undefined;
    box.online((_it, done) => {
      stale ??= () => done();
    });
    box.push(item(1)); // sent on the first connection, never acknowledged
    box.offline();
    for (let i = 2; i <= 5; i++) box.push(item(i));
    t.equal(box.dropped, 2, 'items 1 and 2 dropped');
    stale!(); // an ack from the previous connection must not remove anything
    t.equal(box.length, 3);
    const seen: number[] = [];
    box.online((it, done) => {
      seen.push(it.seq);
      done();
    });
    t.same(seen, [3, 4, 5]);
  },
);
