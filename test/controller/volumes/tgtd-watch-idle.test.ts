// tier: unit
// The tgtd watch idles while no volume is on the iSCSI backend: tgtd is asked only once per full
// interval (each question forks tgtadm from the controller), and as often as configured again as soon
// as a volume exists.
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
    intervalMs: 10,
    fullIntervalMs: 60_000,
    idle: () => idle,
  });
  t.teardown(() => w.stop());
  await w.start();
  t.equal(pings, 1, 'the first check always runs');
  t.ok(w.healthy);
  await new Promise((r) => setTimeout(r, 150));
  t.equal(pings, 1, 'idle: no more checks within the full interval');
  idle = false;
  await new Promise((r) => setTimeout(r, 150));
  t.ok(pings >= 5, `a volume exists: checked every interval again (${pings})`);
});
