// tier: unit
// GET /v1/vms answers from a per-caller cache of its serialized list: a write to any table the views are
// made of (by whichever code: temporary triggers) is seen by the very next list, each caller sees only its
// own list, the answer carries an ETag that a conditional request turns into 304, and an answer is built
// again after its time to live even with no write.
import type { AddressInfo } from 'node:net';
import express from 'express';
import pino from 'pino';
import t from 'tap';
import { NotFoundError } from '../../../common/errors.ts';
import { problemHandler } from '../../../common/http-problem.ts';
import { onTableChanges, openDatabase } from '../../../common/sqlite.ts';
import { VmViewCache } from '../../../controller/vms/view-cache.ts';
import { vmRoutes } from '../../../controller/vms/routes.ts';
import type { ControllerVmService } from '../../../controller/vms/service.ts';
import { VmStore } from '../../../controller/vms/store.ts';
import { pendingVm } from '../../helpers/vm-records.ts';

t.test('a write to a watched table is seen at once, by any writer; other tables do not count', async (t) => {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  db.exec('CREATE TABLE a (id TEXT PRIMARY KEY, v INTEGER); CREATE TABLE b (id TEXT PRIMARY KEY)');
  let changes = 0;
  onTableChanges(db, 'test_changed', ['a', 'missing'], () => changes++);
  db.prepare('INSERT INTO a (id, v) VALUES (?, ?)').run('x', 1);
  db.prepare('INSERT INTO b (id) VALUES (?)').run('y');
  t.equal(changes, 1, 'an insert into a; nothing for b, and the missing table was skipped');
  db.prepare('UPDATE a SET v = 2 WHERE id = ?').run('x');
  db.prepare('UPDATE a SET v = 2 WHERE id = ?').run('nobody');
  t.equal(changes, 2, 'an update of a row; none when no row changed');
  try {
    db.transaction(() => {
      db.prepare('DELETE FROM a').run();
      throw new Error('rolled back');
    })();
  } catch {}
  t.equal(changes, 3, 'a write rolled back still counts (a cache is only cleared more often)');
  t.throws(() => onTableChanges(db, 'bad name;', ['a'], () => undefined));
});

t.test(
  'the cache: time to live, clearing, the oldest answers evicted beyond its size, one ETag per answer',
  async (t) => {
    let now = 0;
    // each answer below is 7 bytes ({"n":1}): two fit
    const cache = new VmViewCache({ ttlMs: 1000, maxBytes: 16, now: () => now });
    let builds = 0;
    const build = () => ({ n: ++builds });
    const first = cache.get('u1', build);
    t.same(JSON.parse(first.body.toString()), { n: 1 });
    t.equal(cache.get('u1', build), first, 'served again');
    t.match(first.etag, /^W\/".+"$/);
    now = 1000;
    t.same(JSON.parse(cache.get('u1', build).body.toString()), { n: 2 }, 'built again after its time to live');
    cache.invalidate();
    t.same(JSON.parse(cache.get('u1', build).body.toString()), { n: 3 }, 'built again after a change');
    cache.get('u2', build);
    cache.get('u3', build);
    t.same(JSON.parse(cache.get('u1', build).body.toString()), { n: 6 }, 'beyond two answers the oldest went');
    t.same(JSON.parse(cache.get('u3', build).body.toString()), { n: 5 }, 'the newest stayed');
    t.throws(() =>
      cache.get('bad', () => {
        throw new Error('404');
      }),
    );
    t.same(JSON.parse(cache.get('u3', build).body.toString()), { n: 5 }, 'a build that throws keeps nothing');
  },
);

t.test('GET /v1/vms through the cache: fresh after writes, per caller, 304 for a matching ETag', async (t) => {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  const store = new VmStore(db);
  const cache = new VmViewCache({ ttlMs: 3_600_000 });
  onTableChanges(db, 'stratus_vm_views_changed', ['vms', 'vm_events'], () => cache.invalidate());
  const service = {
    list: (who: { id: string; role: string }) => store.list(who.role === 'admin' ? {} : { ownerId: who.id }),
    visible: (id: string, who: { id: string; role: string }) => {
      const vm = store.find(id);
      if (!vm || (who.role !== 'admin' && vm.ownerId !== who.id)) throw new NotFoundError('VM', id);
      return vm;
    },
  } as unknown as ControllerVmService;
  const app = express();
  app.use((req, res, next) => {
    const user = req.header('x-user') ?? 'u1';
    res.locals['principal'] = { id: user, name: user, role: user === 'admin' ? 'admin' : 'user' };
    next();
  });
  app.use('/v1', vmRoutes(service, store, [], cache));
  app.use(problemHandler(pino({ level: 'silent' })));
  const server = app.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/vms`;
  const list = async (user: string, etag?: string) => {
    // fetch adds Cache-Control: no-cache to a conditional request unless one is given (the Fetch standard)
    const conditional: Record<string, string> = etag ? { 'if-none-match': etag, 'cache-control': 'max-age=0' } : {};
    const r = await fetch(base, { headers: { 'x-user': user, ...conditional } });
    const text = await r.text();
    return {
      status: r.status,
      etag: r.headers.get('etag') ?? '',
      type: r.headers.get('content-type') ?? '',
      names: text ? (JSON.parse(text).items as { name: string }[]).map((v) => v.name) : [],
    };
  };
  const a = pendingVm(store, 'a');
  const first = await list('u1');
  t.same(first.names, ['a']);
  t.match(first.type, /^application\/json/);
  t.same((await list('u2')).names, [], 'another user does not get the cached list of the first');
  t.same((await list('admin')).names, ['a']);
  t.equal((await list('u1', first.etag)).status, 304, 'unchanged: 304 for the ETag given before');
  store.transition(a.id, 'failed', 'by hand');
  pendingVm(store, 'b');
  const after = await list('u1', first.etag);
  t.equal(after.status, 200, 'changed: the ETag no longer matches');
  t.same(after.names, ['a', 'b'], 'the write is seen by the next list');
  db.prepare("UPDATE vms SET name = 'renamed' WHERE id = ?").run(a.id);
  t.same((await list('u1')).names, ['renamed', 'b'], 'a write by SQL outside the store is seen too');

  const show = async (user: string) => {
    const r = await fetch(`${base}/${a.id}`, { headers: { 'x-user': user } });
    return { status: r.status, body: (await r.json()) as { state: string; events: { to: string }[] } };
  };
  const shown = await show('u1');
  t.equal(shown.status, 200);
  t.same(
    shown.body.events.map((e) => e.to),
    ['pending', 'failed'],
  );
  t.equal((await show('u2')).status, 404, 'not shown to another user, although kept for its owner');
  store.transition(a.id, 'running', 'adopted');
  const again = await show('u1');
  t.equal(again.body.state, 'running', 'a VM shown after a change is shown as it is now');
  t.same(
    again.body.events.map((e) => e.to),
    ['pending', 'failed', 'running'],
  );
});

t.test('a commit by another process clears the cache too (SQLite data_version)', async (t) => {
  let version = 1;
  const cache = new VmViewCache({ ttlMs: 3_600_000, externalVersion: () => version });
  let builds = 0;
  const build = () => ({ n: ++builds });
  cache.get('u1', build);
  t.same(JSON.parse(cache.get('u1', build).body.toString()), { n: 1 }, 'kept while nothing changed');
  version = 2;
  t.same(JSON.parse(cache.get('u1', build).body.toString()), { n: 2 }, 'built again after the other commit');
});
