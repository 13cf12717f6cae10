// An undo stack for multi-step operations (after Incus's "revert"): each finished step registers how to
// undo itself; on failure the steps are undone newest first, and on success the stack is dropped.

export type UndoFn = () => unknown | Promise<unknown>;

export class Reverter {
  private readonly steps: { what: string; undo: UndoFn }[] = [];
  private committed = false;

  add(what: string, undo: UndoFn): void {
    this.steps.push({ what, undo });
  }

  /** Keeps everything done so far: nothing will be undone. */
  commit(): void {
    this.committed = true;
    this.steps.length = 0;
  }

  /** Undoes every registered step, newest first; undo failures are collected, never thrown. */
  async revert(): Promise<{ what: string; error: Error }[]> {
    if (this.committed) return [];
    const failures: { what: string; error: Error }[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.undo();
      } catch (err) {
        failures.push({ what: step.what, error: err as Error });
      }
    }
    return failures;
  }
}

/**
 * Runs `fn` with a fresh reverter: if it throws, the finished steps are undone and the original error
 * is rethrown (with undo failures attached as `undoFailures`).
 */
export async function withReverter<T>(fn: (r: Reverter) => Promise<T>): Promise<T> {
  const r = new Reverter();
  try {
    const v = await fn(r);
    r.commit();
    return v;
  } catch (err) {
    const failures = await r.revert();
    if (failures.length > 0 && err instanceof Error) Object.assign(err, { undoFailures: failures });
    throw err;
  }
}
