// tier: unit
// The fleet store parses a host's status and info once per text it stores: reading every host again
// (each scheduling pass, each host list) reuses the parsed values while they are unchanged, and a new
// status or info is read as soon as it is stored.
import t from 'tap';
import { openDatabase } from '../../../common/sqlite.ts';
import { FleetStore } from '../../../controller/fleet/store.ts';
import { SimHost } from '../../helpers/sim-host.ts';

t.test('status and info are parsed once while unchanged, and read anew when stored again', async (t) => {
  const db = openDatabase(':memory:');
  const store = new FleetStore(db);
  const h = new SimHost('hv-1');
  store.setStatus({ ...h.status('online'), v: 1 }, 'online');
  store.setInfo({ ...h.info(['img-a']), v: 1 });
  const [a] = store.hosts();
  const [b] = store.hosts();
  t.equal(a!.info, b!.info, 'the same parsed info');
  t.equal(a!.status, b!.status, 'the same parsed status');
  t.equal(store.host('hv-1')!.info, a!.info, 'one host reads the same');
  t.same(
    a!.info?.images.map((i) => i.id),
    ['img-a'],
  );

  store.setInfo({ ...h.info(['img-a', 'img-b']), v: 1 });
  t.same(
    store.hosts()[0]!.info?.images.map((i) => i.id),
    ['img-a', 'img-b'],
    'a new info is seen at once',
  );
  store.setStatus({ ...h.status('offline', 'last-will'), v: 1 }, 'down');
  t.match(store.host('hv-1'), { state: 'down', status: { state: 'offline', reason: 'last-will' } });
  t.not(store.host('hv-1')!.status, a!.status, 'a new status is parsed');
  db.close();
});
