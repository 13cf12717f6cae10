// Runs commands from a small helper process (a fork server, as Python's multiprocessing has) instead
// of forking the caller. Node forks the whole process for every child, synchronously on the event loop,
// and the time grows with the memory it maps: in a controller holding 10,000 hosts one spawn of
// xorriso took ~36 ms of blocked loop, and 1,000 context CD-ROMs held the API for half a minute. The
// helper is a Node process of a few MB started once (its script passed with -e: nothing to install or
// bundle), it runs each command with execFile and answers with its outcome; it is started again when
// it dies, and the calls in flight fail like a command that could not run. Closing it lets the
// commands in flight finish.

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface RunOptions {
  timeout?: number;
  maxBuffer?: number;
}

/** The outcome of a command, as promisified execFile gives it (a failure rejects with code and stderr). */
export interface RunResult {
  stdout: string;
  stderr: string;
}

const HELPER = `
const { execFile } = require('node:child_process');
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const r = JSON.parse(line);
  execFile(r.file, r.args, { timeout: r.timeout, maxBuffer: r.maxBuffer, encoding: 'utf8' }, (err, stdout, stderr) => {
    const out = { id: r.id, stdout: String(stdout ?? ''), stderr: String(stderr ?? '') };
    if (err) Object.assign(out, { error: err.message, code: err.code, signal: err.signal, killed: err.killed });
    process.stdout.write(JSON.stringify(out) + '\\n');
  });
});
// once its input is closed and its commands are done, nothing is left to run: the helper exits
`;

interface Pending {
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
}

/** The helper process and the ids of the calls it was given. */
interface Helper {
  proc: ChildProcess;
  ids: Set<number>;
}

export class SpawnServer {
  private helper: Helper | undefined;
  private readonly pending = new Map<number, Pending>();
  private next = 1;

  private start(): Helper {
    // the helper needs none of the caller's Node options (heap sizes, loaders): a clean environment
    const proc = spawn(process.execPath, ['-e', HELPER], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
    });
    const helper: Helper = { proc, ids: new Set() };
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as RunResult & {
        id: number;
        error?: string;
        code?: number | string;
        signal?: string;
        killed?: boolean;
      };
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      helper.ids.delete(r.id);
      if (r.error === undefined) p.resolve({ stdout: r.stdout, stderr: r.stderr });
      else
        p.reject(
          Object.assign(new Error(r.error), {
            code: r.code,
            signal: r.signal,
            killed: r.killed,
            stdout: r.stdout,
            stderr: r.stderr,
          }),
        );
    });
    // 'close': after its output is read to the end (an answer written just before exiting counts)
    proc.on('close', () => {
      if (this.helper === helper) this.helper = undefined;
      for (const id of helper.ids) {
        this.pending.get(id)?.reject(new Error('the command helper process exited'));
        this.pending.delete(id);
      }
      helper.ids.clear();
    });
    proc.stdin!.on('error', () => undefined); // its 'close' handler answers the calls in flight
    return helper;
  }

  /** Runs `file` with `args` (no shell); resolves with its output, rejects as execFile does. */
  run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.helper ??= this.start();
    const helper = this.helper;
    const id = this.next++;
    helper.ids.add(id);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const req = { id, file, args, timeout: opts.timeout ?? 0, maxBuffer: opts.maxBuffer ?? 1024 * 1024 };
      helper.proc.stdin!.write(`${JSON.stringify(req)}\n`);
    });
  }

  /** Ends the helper: it exits once the commands in flight are done (its input closed). */
  close(): void {
    this.helper?.proc.stdin?.end();
    this.helper = undefined;
  }
}
