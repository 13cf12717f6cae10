// tier: unit
// Commands run from the helper process answer as execFile does: output on success; on failure an
// error with the exit code and stderr; a missing program fails with ENOENT. A helper that dies fails
// the calls in flight and is started again for the next one; commands run concurrently.
import t from 'tap';
import { SpawnServer } from '../../drivers/spawn-server.ts';

t.test('output, exit codes, stderr and missing programs, as execFile', async (t) => {
  const s = new SpawnServer();
  t.teardown(() => s.close());
  t.same(await s.run('echo', ['a b', 'c']), { stdout: 'a b c\n', stderr: '' }, 'arguments as given, no shell');
  await t.rejects(s.run('sh', ['-c', 'echo oops >&2; exit 3']), { code: 3, stderr: 'oops\n' });
  await t.rejects(s.run('/nonexistent/tool', []), { code: 'ENOENT' });
  const timedOut = await s.run('sleep', ['5'], { timeout: 100 }).catch((e: { killed?: boolean; signal?: string }) => e);
  t.match(timedOut, { killed: true, signal: 'SIGTERM' }, 'timeouts kill');
  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => s.run('echo', [String(i)])));
  t.same(
    many.map((r) => r.stdout.trim()),
    Array.from({ length: 20 }, (_, i) => String(i)),
    'concurrent calls each get their own answer',
  );
});

t.test('a helper that dies fails its calls in flight; the next call starts a new one', async (t) => {
  const s = new SpawnServer();
  t.teardown(() => s.close());
  const inFlight = s.run('sleep', ['5']);
  const helper = (s as unknown as { helper: { proc: { kill(sig: string): void } } }).helper;
  helper.proc.kill('SIGKILL');
  await t.rejects(inFlight, /helper process exited/);
  t.same(await s.run('echo', ['again']), { stdout: 'again\n', stderr: '' });
});

t.test('close lets the commands in flight finish', async (t) => {
  const s = new SpawnServer();
  const slow = s.run('sh', ['-c', 'sleep 0.2; echo done']);
  s.close();
  t.same(await slow, { stdout: 'done\n', stderr: '' });
});
