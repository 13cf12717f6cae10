// The message bus of the embedded broker: aedes's own mqemitter, with its recursion bounded. When more
// messages arrive than it runs at once (`concurrency`), mqemitter queues them, and each message that
// completes starts the next one from inside its own callback; when the deliveries complete at once,
// a long queue drains as one ever deeper call chain until the stack overflows ("Maximum call stack size
// exceeded" in qlobber, which took the whole controller down at 10,000 hosts; mqemitter PR #204).
// Here a chain deeper than `maxDepth` continues on the next turn of the event loop, with its slot kept,
// so the queue still drains in order and nothing overtakes it.

import mqemitter from 'mqemitter';

type Emitter = ReturnType<typeof mqemitter>;
type Do = (message: mqemitter.Message, callback: (err?: Error) => void) => Emitter;
interface Internals {
  _do: Do;
  _doing: boolean;
  current: number;
}

export function boundedEmitter(opts: { concurrency: number; maxDepth?: number }): Emitter {
  const mq = mqemitter({ concurrency: opts.concurrency });
  const inner = mq as unknown as Internals;
  const run = inner._do.bind(mq);
  const maxDepth = opts.maxDepth ?? 64;
  let depth = 0;
  inner._do = (message, callback) => {
    if (depth >= maxDepth) {
      // keep the slot, so that a new message queues behind this one instead of overtaking it
      inner._doing = true;
      inner.current++;
      setImmediate(() => {
        inner.current--;
        run(message, callback);
      });
      return mq;
    }
    depth++;
    try {
      return run(message, callback);
    } finally {
      depth--;
    }
  };
  return mq;
}
