// tier: unit
// openDatabase's statement cache: the same SQL answers the statement prepared before (preparing at
// each call cost more than the query), statements stay right after a schema change (a column added
// after a SELECT * was prepared), and distinct SQL texts beyond the bound start the cache afresh.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { dataVersion, onTableChanges, openDatabase } from '../../common/sqlite.ts';

t.test('one statement per SQL text, still right after the schema changes', async (t) => {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  db.exec('CREATE TABLE x (id TEXT PRIMARY KEY, a INTEGER)');
  const ins = 'INSERT INTO x (id, a) VALUES (?, ?)';
  t.equal(db.prepare(ins), db.prepare(ins), 'the same statement');
  db.prepare(ins).run('one', 1);
  const sel = 'SELECT * FROM x WHERE id = ?';
  t.same(db.prepare(sel).get('one'), { id: 'one', a: 1 });
  db.exec("ALTER TABLE x ADD COLUMN b TEXT NOT NULL DEFAULT 'new'");
  t.same(db.prepare(sel).get('one'), { id: 'one', a: 1, b: 'new' }, 'the added column is read');
  t.same(db.prepare('SELECT id FROM x').all(), [{ id: 'one' }]);
  for (let i = 0; i < 2100; i++) db.prepare(`SELECT ${i} AS n`).get();
  t.same(db.prepare('SELECT 7 AS n').get(), { n: 7 }, 'beyond the bound, statements are prepared again');
  t.same(db.prepare(sel).get('one'), { id: 'one', a: 1, b: 'new' });
});

t.test('two listeners of one change hook on one connection are both called', async (t) => {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  db.exec('CREATE TABLE u (id TEXT PRIMARY KEY)');
  const calls: string[] = [];
  onTableChanges(db, 'shared_hook', ['u'], () => calls.push('first'));
  onTableChanges(db, 'shared_hook', ['u'], () => calls.push('second'));
  db.prepare('INSERT INTO u (id) VALUES (?)').run('x');
  t.same(calls, ['first', 'second'], 'a second store on the connection does not silence the first');
});

t.test('data_version changes for a commit of another connection, not for our own', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-dv-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = openDatabase(join(dir, 'x.db'));
  const b = openDatabase(join(dir, 'x.db'));
  t.teardown(() => {
    a.close();
    b.close();
  });
  a.exec('CREATE TABLE x (id TEXT)');
  const v0 = dataVersion(a);
  a.prepare('INSERT INTO x (id) VALUES (?)').run('own');
  t.equal(dataVersion(a), v0, 'our own write');
  b.prepare('INSERT INTO x (id) VALUES (?)').run('theirs');
  t.not(dataVersion(a), v0, 'the other connection committed');
});
