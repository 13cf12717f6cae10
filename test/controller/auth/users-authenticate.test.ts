// tier: unit
// Bearer tokens are answered from memory between two writes to the users table: a deleted user, a new
// role or a changed token is seen by the very next call, whichever code wrote it; unknown tokens are
// never kept.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openDatabase } from '../../../common/sqlite.ts';
import { UserStore } from '../../../controller/auth/users.ts';

t.test('a token keeps working until a write to users says otherwise, then at once', async (t) => {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  const users = new UserStore(db);
  const { user, token } = users.create('alice', 'user');
  t.same(users.authenticate(token), { id: user.id, name: 'alice', role: 'user' });
  t.same(users.authenticate(token), { id: user.id, name: 'alice', role: 'user' }, 'again, from memory');
  const p = users.authenticate(token)!;
  p.role = 'admin';
  t.equal(users.authenticate(token)?.role, 'user', 'a caller changing its copy changes nothing kept');
  db.prepare("UPDATE users SET role = 'admin' WHERE id = ?").run(user.id);
  t.equal(users.authenticate(token)?.role, 'admin', 'a role changed by SQL is seen by the next call');
  users.delete(user.id);
  t.equal(users.authenticate(token), undefined, 'a deleted user is refused by the next call');
  t.equal(users.authenticate('st_unknown'), undefined);
});

t.test('two stores on one connection: a write through one is seen by the other', async (t) => {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  const a = new UserStore(db);
  const b = new UserStore(db);
  const { user, token } = a.create('bob', 'user');
  t.ok(b.authenticate(token));
  a.delete(user.id);
  t.equal(b.authenticate(token), undefined);
});

t.test('a write by another process (another connection to the file) is seen by the next call', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-users-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase(join(dir, 'controller.db'));
  t.teardown(() => db.close());
  const users = new UserStore(db);
  const { user, token } = users.create('carol', 'user');
  t.ok(users.authenticate(token), 'known, and now kept');
  const other = openDatabase(join(dir, 'controller.db'));
  t.teardown(() => other.close());
  other.prepare('DELETE FROM users WHERE id = ?').run(user.id);
  t.equal(users.authenticate(token), undefined, 'deleted by the other connection: refused');
  t.equal(users.authenticate(token), undefined, 'and still refused on the next call');
});
