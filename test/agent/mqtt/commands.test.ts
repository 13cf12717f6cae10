// tier: unit
// The command executor without a broker: idempotency, deadlines, typed errors, progress, restarts.
import { type TSchema, Type } from '@sinclair/typebox';
import { pino } from 'pino';
import t from 'tap';
import { CommandStore } from '../../../agent/mqtt/command-store.ts';
import { CommandExecutor, CommandRegistry } from '../../../agent/mqtt/commands.ts';
import { openDatabase } from '../../../common/sqlite.ts';
import { ConflictError } from '../../../common/errors.ts';
import { LibvirtDisconnectedError } from '../../../drivers/libvirt/errors.ts';
import type { CommandDef } from '../../../protocol/mqtt/index.ts';
import { waitFor } from '../../helpers/wait.ts';

const log = pino({ level: 'silent' });

// a catalogue of the test's own: the executor does not depend on the agent's real commands
const def = <A extends TSchema, R extends TSchema>(args: A, result: R): CommandDef<A, R> => ({
  args,
  result,
  description: 'test',
  progress: true,
  senders: ['controller'],
});
const testCatalogue = {
  count: def(Type.Object({ n: Type.Integer() }), Type.Object({ n: Type.Integer(), runs: Type.Integer() })),
  fail: def(Type.Object({}), Type.Null()),
  flaky: def(Type.Object({}), Type.Object({ done: Type.Boolean() })),
};

function setup(
  db = openDatabase(':memory:'),
  interrupted?: (cmd: { key: string }) => { ok: boolean; result?: unknown } | 'rerun' | 'pending',
) {
  const registry = new CommandRegistry(testCatalogue);
  let runs = 0;
  registry.register('count', async (args, ctx) => {
    runs++;
    ctx.progress('counting', 50);
    await new Promise((r) => setTimeout(r, 20));
    return { n: args.n, runs };
  });
  registry.register('fail', async () => {
    throw new ConflictError('no way', { why: 'test' });
  });
  const replies: any[] = [];
  const events: string[] = [];
  const exec = new CommandExecutor({
    registry,
    store: new CommandStore(db),
    log,
    maxPayloadBytes: 4096,
    reply: (_id, body) => replies.push(body),
    event: (kind) => events.push(kind),
    ...(interrupted ? { interrupted } : {}),
  });
  const send = (command: string, args: unknown, key: string, deadline = Date.now() + 10_000, id = key) =>
    exec.handle(command, Buffer.from(JSON.stringify({ v: 1, ts: Date.now(), id, key, command, args, deadline })));
  const results = () => replies.filter((r) => r.type === 'result');
  return { db, registry, exec, replies, events, send, results, runs: () => runs };
}

t.test(
  'a command delivered three times with one idempotency key runs once; repeats get the recorded result',
  async (t) => {
    const s = setup();
    s.send('count', { n: 7 }, 'key-1', undefined, 'a');
    s.send('count', { n: 7 }, 'key-1', undefined, 'b'); // while the first runs (a restarted controller)
    await waitFor('first results', () => s.results().length === 2);
    t.same(
      s.results().map((r) => r.id),
      ['a', 'b'],
      'the delivery that came while it ran gets the outcome too',
    );
    s.send('count', { n: 7 }, 'key-1', undefined, 'c'); // after it finished
    await waitFor('replayed result', () => s.results().length === 3);
    t.equal(s.runs(), 1, 'handler ran once');
    for (const r of s.results()) t.same(r.result, { n: 7, runs: 1 });
    t.equal(s.results()[1].replayed, true);
    t.equal(s.results()[2].replayed, true);
    t.ok(
      s.replies.some((r) => r.id === 'a' && r.type === 'progress' && r.progress.pct === 50),
      'progress reported',
    );
    t.ok(s.replies.some((r) => r.id === 'b' && r.progress?.step === 'already running'));
    t.same(s.events, ['command.done']);
  },
);

t.test('past its deadline, unknown, or with bad arguments: refused with a typed error and never run', async (t) => {
  const s = setup();
  s.send('count', { n: 1 }, 'late', Date.now() - 1000);
  s.send('nope', {}, 'unknown');
  s.send('count', { n: 'x' }, 'bad-args');
  s.send('fail', {}, 'fails');
  await waitFor('four results', () => s.results().length === 4);
  const byKey = Object.fromEntries(s.results().map((r) => [r.key, r]));
  t.equal(byKey['late'].error.code, 'STRATUS_ERR_DEADLINE_EXCEEDED');
  t.equal(byKey['late'].error.status, 504);
  t.equal(byKey['unknown'].error.code, 'STRATUS_ERR_UNKNOWN_COMMAND');
  t.same(byKey['unknown'].error.details.known, ['count', 'fail']);
  t.equal(byKey['bad-args'].error.code, 'STRATUS_ERR_VALIDATION');
  t.match(byKey['bad-args'].error.message, /\/n/);
  t.same(byKey['fails'].error, {
    code: 'STRATUS_ERR_CONFLICT',
    message: 'no way',
    status: 409,
    details: { why: 'test' },
  });
  t.equal(s.runs(), 0);
});

t.test('malformed command messages are dropped and counted; the same key for another command conflicts', async (t) => {
  const s = setup();
  s.exec.handle('count', Buffer.from('{not json'));
  s.exec.handle('count', Buffer.from(JSON.stringify({ v: 9, id: 'x', key: 'k', command: 'count' })));
  s.exec.handle('count', Buffer.alloc(5000, 32));
  s.send('count', { n: 1 }, 'same', undefined, 'first-use-of-key');
  s.exec.handle(
    'fail',
    Buffer.from(
      JSON.stringify({ v: 1, ts: 0, id: 'm', key: 'k2', command: 'count', args: {}, deadline: Date.now() + 1e4 }),
    ),
  );
  t.equal(s.exec.dropped, 4, 'bad JSON, wrong version, oversized, topic/command mismatch');
  await waitFor('result', () => s.results().length === 1);
  s.send('fail', {}, 'same');
  await waitFor('conflict', () => s.results().length === 2);
  t.equal(s.results()[1].error.code, 'STRATUS_ERR_IDEMPOTENCY_CONFLICT');
  t.equal(s.runs(), 1);
});

t.test('a command cut short by an agent restart gets its real outcome, never "effect unknown"', async (t) => {
  const db = openDatabase(':memory:');
  const first = new CommandStore(db);
  t.ok(first.begin('k', 'id1', 'count'), 'recorded as running, then the agent died');
  t.ok(first.begin('k-done', 'id2', 'count'), 'another one whose operation the journal shows finished');
  t.ok(first.begin('k-open', 'id3', 'count'), 'and one that recovery has not settled yet');
  const s = setup(db, (cmd) =>
    cmd.key === 'k-done' ? { ok: true, result: { from: 'journal' } } : cmd.key === 'k-open' ? 'pending' : 'rerun',
  );
  s.send('count', { n: 1 }, 'k');
  await waitFor('result', () => s.results().length === 1);
  t.equal(s.results()[0].ok, true, 'nothing of it was left: it ran again');
  t.equal(s.runs(), 1);
  s.send('count', { n: 1 }, 'k-done');
  await waitFor('result', () => s.results().length === 2);
  t.same(s.results()[1].result, { from: 'journal' }, 'the outcome recovered from the journal');
  t.equal(s.runs(), 1, 'not run again');
  s.send('count', { n: 1 }, 'k-open');
  await waitFor('result', () => s.results().length === 3);
  t.equal(s.results()[2].error.status, 503, 'still being settled: a transient answer');
  t.equal(new CommandStore(db).get('k-open')?.state, 'running', 'not recorded as an outcome');
});

t.test('transient failures are answered, not recorded: a retry with the same key runs', async (t) => {
  const s = setup();
  let failures = 1;
  s.registry.register('flaky', async () => {
    if (failures-- > 0) throw new LibvirtDisconnectedError('qemu:///system');
    return { done: true };
  });
  s.send('flaky', {}, 'f-1', undefined, 'a');
  await waitFor('first result', () => s.results().length === 1);
  t.equal(s.results()[0].error.code, 'STRATUS_ERR_LIBVIRT_DISCONNECTED');
  t.equal(s.results()[0].error.details.transient, true, 'marked transient for the sender');
  s.send('flaky', {}, 'f-1', undefined, 'b');
  await waitFor('second result', () => s.results().length === 2);
  t.same(s.results()[1].result, { done: true }, 'the retry ran and succeeded');
  t.notOk(s.results()[1].replayed, 'not a replay of the failure');

  // an outcome an older agent recorded for a transient failure is not replayed forever
  const store = new CommandStore(s.db);
  store.refuse('delete:x', 'old', 'count', {
    ok: false,
    error: { code: 'STRATUS_ERR_LIBVIRT_DISCONNECTED', message: 'not connected', status: 503, details: {} },
  });
  s.send('count', { n: 2 }, 'delete:x', undefined, 'c');
  await waitFor('third result', () => s.results().length === 3);
  t.equal(s.results()[2].ok, true, 'the recorded 503 was dropped and the command ran');
});

t.test('a stopping executor declines new commands (left unacknowledged) and lets running ones finish', async (t) => {
  const s = setup();
  t.equal(s.send('count', { n: 1 }, 'run-1'), true, 'accepted while running');
  s.exec.stop();
  t.equal(s.send('count', { n: 2 }, 'late-1'), false, 'declined once stopping: no PUBACK');
  await s.exec.drain(5000);
  t.equal(s.results().length, 1, 'the running command finished and answered');
  t.equal(s.runs(), 1, 'the declined one did not run');
  t.equal(new CommandStore(s.db).get('late-1'), undefined, 'and nothing was recorded for it');
});
