// Entry point of a call worker thread: runs libvirt operations synchronously, so that a failing call's
// thread-local error is read on the same thread, and posts back plain results or serialised errors.
// Once loaded it says so (`{ ready: true }`): the pool hands it calls only from then on.

import { parentPort } from 'node:worker_threads';
import { libcFreeAddress } from './bindings.ts';
import { LibvirtError } from './errors.ts';
import { silenceDefaultErrorHandler } from './last-error.ts';
import { type OpName, operations } from './ops/index.ts';

export interface CallRequest {
  id: number;
  op: OpName;
  args: unknown[];
}

export type CallResponse =
  | { id: number; ok: true; value: unknown }
  | {
      id: number;
      ok: false;
      error: { kind: 'libvirt'; operation: string; code: number; domain: number; level: number; message: string };
    }
  | { id: number; ok: false; error: { kind: 'other'; message: string } };

/** The first message of a worker: its modules (libvirt included) are loaded. */
export interface WorkerReady {
  ready: true;
}

silenceDefaultErrorHandler(libcFreeAddress);

parentPort?.on('message', (req: CallRequest) => {
  let res: CallResponse;
  try {
    const fn = operations[req.op] as (...a: unknown[]) => unknown;
    res = { id: req.id, ok: true, value: fn(...req.args) };
  } catch (err) {
    res =
      err instanceof LibvirtError
        ? {
            id: req.id,
            ok: false,
            error: {
              kind: 'libvirt',
              operation: err.operation,
              code: err.virCode,
              domain: err.virDomain,
              level: Number(err.details['level'] ?? 2),
              message: err.message,
            },
          }
        : {
            id: req.id,
            ok: false,
            error: { kind: 'other', message: err instanceof Error ? err.message : String(err) },
          };
  }
  parentPort?.postMessage(res);
});

parentPort?.postMessage({ ready: true } satisfies WorkerReady);
