// tier: unit
// The tgtd watch idles while no volume is on the iSCSI backend: tgtd is asked only once per full
// interval (each question forks tgtadm from the controller), and as often as configured again as soon
// as a volume exists. Checks are driven by hand (the timer's interval is far beyond the test), so the
// test counts decisions, not timer ticks.
import pino from 'pino';
import t from 'tap';
import type { Tgtadm } from '../../../drivers/tgtadm.ts';
import { TgtdWatch } from '../../../controller/volumes/tgtd-watch.ts';

t.test('no iSCSI volume: checked once per full interval; with one: every interval', async (t) => {
  let pings = 0;
  const tgt = {
    controlPort: 0,
    ping: async () => {
      pings++;
      return true;
    },
    instanceId: async () => 'same',
  } as unknown as Tgtadm;
  let idle = true;
  const w = new TgtdWatch({
    tgt,
    log: pino({ level: 'silent' }),
    restore: async () => ({ created: 0, repaired: 0, removed: 0, failed: [] }),
    intervalMs: 3_600_000,
    fullIntervalMs: 60_000,
    idle: () => idle,
  });
  t.teardown(() => w.stop());
  await w.start();
  t.equal(pings, 1, 'the first check always runs');
  t.ok(w.healthy);
  for (let i = 0; i < 5; i++) await w.check();
  t.equal(pings, 1, 'idle: no more checks within the full interval');
  idle = false;
  for (let i = 0; i < 5; i++) await w.check();
  t.equal(pings, 6, 'a volume exists: every check asks tgtd again');
});
