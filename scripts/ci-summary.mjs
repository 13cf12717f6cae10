// Reads a TAP stream (tap --reporter=tap) on stdin, echoes it, and ends with the line CI reads:
// "N passed, N failed", counting each behaviour (a test file's top-level t.test) once. A file that
// fails outside its subtests (crash, timeout) counts as one more failure.
import { createInterface } from 'node:readline';

let passed = 0;
let failed = 0;
let fileSubtestFailures = 0;
let skipped = 0;
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  process.stdout.write(`${line}\n`);
  const sub = /^ {4}(not ok|ok) \d+ - (.*)$/.exec(line);
  if (sub) {
    if (/# SKIP/.test(sub[2])) skipped++;
    else if (sub[1] === 'ok') passed++;
    else {
      failed++;
      fileSubtestFailures++;
    }
    return;
  }
  const file = /^(not ok|ok) \d+ - (.*)$/.exec(line);
  if (file) {
    if (file[1] === 'not ok' && fileSubtestFailures === 0) failed++;
    fileSubtestFailures = 0;
  }
});
rl.on('close', () => {
  const exitCode = Number(process.argv[2] ?? 0);
  if (exitCode !== 0 && failed === 0) failed = 1; // typecheck, lint or the runner itself failed, tests did not
  process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
});
