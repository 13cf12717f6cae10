// Reads a TAP stream (tap --reporter=tap) on stdin, echoes it, and ends with the line CI reads:
// "N passed, N failed", counting each behaviour (a test file's top-level t.test) once. A file that
// fails outside its subtests (crash, timeout) counts as one more failure. Just before that line it
// names every failure (file and subtest, or the step of scripts/test.sh that failed), because a CI
// record often keeps only the tail of the log.
import { createInterface } from 'node:readline';

let passed = 0;
let failed = 0;
let fileSubtestFailures = 0;
let skipped = 0;
/** Failed subtests of the file being read; the file's own line (which names it) comes after them. */
let pending = [];
const failures = [];
/** Lines of scripts/test.sh's own steps that report a failure. */
const stepFailure = /^(typecheck failed|leak check: the tests left \d+ |lint failed|leak check: cannot)/;
/** True while reading the leak check's list of what the tests left behind (lines indented by two). */
let inLeakList = false;
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  process.stdout.write(`${line}\n`);
  if (inLeakList && /^ {2}\S/.test(line)) {
    failures.push(`  ${line.trim()}`);
    return;
  }
  inLeakList = false;
  if (stepFailure.test(line)) {
    failures.push(line.trim());
    inLeakList = line.startsWith('leak check: the tests left');
  }
  const sub = /^ {4}(not ok|ok) \d+ - (.*)$/.exec(line);
  if (sub) {
    if (/# SKIP/.test(sub[2])) skipped++;
    else if (sub[1] === 'ok') passed++;
    else {
      failed++;
      fileSubtestFailures++;
      pending.push(sub[2]);
    }
    return;
  }
  const file = /^(not ok|ok) \d+ - (.*)$/.exec(line);
  if (file) {
    if (file[1] === 'not ok') {
      if (fileSubtestFailures === 0) {
        failed++;
        failures.push(`${file[2]}: the file failed outside its subtests`);
      }
      for (const name of pending) failures.push(`${file[2]}: ${name}`);
    }
    fileSubtestFailures = 0;
    pending = [];
  }
});
rl.on('close', () => {
  const exitCode = Number(process.argv[2] ?? 0);
  if (exitCode !== 0 && failed === 0) failed = 1; // typecheck, lint or the runner itself failed, tests did not
  if (failures.length) process.stdout.write(`failures:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
  else if (exitCode !== 0) process.stdout.write(`failures: npm test exited ${exitCode}, no test or step named one\n`);
  process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
});
