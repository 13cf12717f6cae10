// tier: unit
// Secret files are 0600 whatever happened to them: readOrCreateSecretFile, readSecretFile and
// writeSecretFile make an existing group- or world-readable file 0600 again; resolveRealPath follows
// symlinks, also above a path that does not exist yet; a stale socket is removed, anything else is not.

import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  readOrCreateSecretFile,
  readSecretFile,
  removeStaleSocket,
  resolveRealPath,
  writeSecretFile,
} from '../../drivers/host-fs.ts';

const dir = mkdtempSync(join(tmpdir(), 'stratus-hostfs-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

t.test('secret files are made 0600 again on read and on write', async (t) => {
  const a = join(dir, 'controller.secret');
  t.equal(
    readOrCreateSecretFile(a, () => 'first'),
    'first',
  );
  t.equal(mode(a), '600', 'created 0600');
  chmodSync(a, 0o644);
  t.equal(
    readOrCreateSecretFile(a, () => 'other'),
    'first',
    'the existing secret is kept',
  );
  t.equal(mode(a), '600', 'an existing 0644 secret is re-chmodded when read');

  const b = join(dir, 'admin.token');
  writeFileSync(b, 'old\n', { mode: 0o666 });
  chmodSync(b, 0o666);
  writeSecretFile(b, 'new');
  t.equal(mode(b), '600', 'an existing 0666 file is re-chmodded when rewritten');
  chmodSync(b, 0o640);
  t.equal(readSecretFile(b), 'new');
  t.equal(mode(b), '600', 'and when read');
});

t.test('resolveRealPath follows symlinks, also above a missing file', async (t) => {
  mkdirSync(join(dir, 'real'));
  symlinkSync(join(dir, 'real'), join(dir, 'link'));
  t.equal(
    await resolveRealPath(join(dir, 'link', 'missing', 'disk.qcow2')),
    join(dir, 'real', 'missing', 'disk.qcow2'),
  );
  t.equal(await resolveRealPath(join(dir, 'link', '..', 'real')), join(dir, 'real'));
});

t.test('removeStaleSocket removes nothing but a socket', async (t) => {
  const f = join(dir, 'not-a-socket');
  writeFileSync(f, 'x');
  t.throws(() => removeStaleSocket(f), /is not a unix socket/);
  t.doesNotThrow(() => removeStaleSocket(join(dir, 'absent.sock')));
});
