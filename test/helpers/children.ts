// Child daemons started by a test are killed with it, even when the runner terminates the test on a
// timeout (SIGTERM) or it crashes, so that no agent or controller outlives its test.

import type { ChildProcess } from 'node:child_process';

const children = new Set<ChildProcess>();
let installed = false;

function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!installed) {
    installed = true;
    process.once('exit', killAll);
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.once(sig, () => {
        killAll();
        process.exit(sig === 'SIGTERM' ? 143 : 130);
      });
    }
  }
  return child;
}
