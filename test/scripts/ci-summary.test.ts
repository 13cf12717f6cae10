// tier: unit
// scripts/ci-summary.mjs: the last lines of a CI log count the behaviours and name every failure, since a
// CI record may keep only the log's tail.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const script = fileURLToPath(new URL('../../scripts/ci-summary.mjs', import.meta.url));

function summarize(tap: string, exitCode: number): string[] {
  const r = spawnSync(process.execPath, [script, String(exitCode)], { input: tap, encoding: 'utf8' });
  return r.stdout.trimEnd().split('\n');
}

t.test('counts subtests and names each failed one with its file', async (t) => {
  const tap = [
    'TAP version 14',
    '# Subtest: test/a.test.ts',
    '    ok 1 - starts a VM',
    '    not ok 2 - releases the lease after the host confirms',
    '    1..2',
    'not ok 1 - test/a.test.ts # time=1s',
    'ok 2 - test/b.test.ts',
  ].join('\n');
  const out = summarize(tap, 1);
  t.same(out.slice(-3), [
    'failures:',
    '  test/a.test.ts # time=1s: releases the lease after the host confirms',
    '1 passed, 1 failed',
  ]);
});

t.test('a file that fails outside its subtests counts once and is named', async (t) => {
  const out = summarize('    ok 1 - x\nnot ok 1 - test/c.test.ts\n', 1);
  t.same(out.slice(-3), ['failures:', '  test/c.test.ts: the file failed outside its subtests', '1 passed, 1 failed']);
});

t.test('a failed step of npm test (the leak check) is named with what it found', async (t) => {
  const tap = [
    '    ok 1 - x',
    'ok 1 - test/a.test.ts',
    'leak check: the tests left 1 thing(s) behind:',
    '  domain stratus-abc',
    'test/x.ts:1:1 lint/suspicious/noExplicitAny',
  ].join('\n');
  const out = summarize(tap, 1);
  t.same(out.slice(-4), [
    'failures:',
    '  leak check: the tests left 1 thing(s) behind:',
    '    domain stratus-abc',
    '1 passed, 1 failed',
  ]);
});

t.test('a clean run ends with the count alone', async (t) => {
  const out = summarize('    ok 1 - x\nok 1 - test/a.test.ts\nleak check: the tests left nothing behind\n', 0);
  t.same(out.slice(-2), ['leak check: the tests left nothing behind', '1 passed, 0 failed']);
});
