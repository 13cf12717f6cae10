// Fault injection for tests: `STRATUS_TEST_CRASH_AT=<point>[,<point>...]` makes the process kill itself
// with SIGKILL when it reaches one of the named points (for example `create:after-define`), so that
// recovery from a crash at an exact step can be tested with real processes. Honoured only when
// `STRATUS_TEST_FAULTS=1` is also set; both are read once, at load time. A no-op otherwise.

const enabled = process.env['STRATUS_TEST_FAULTS'] === '1';
const points = new Set(
  enabled
    ? (process.env['STRATUS_TEST_CRASH_AT'] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [],
);

/** Kills this process at once (no cleanup, as a power cut would) when `point` was armed. */
export function crashPoint(point: string): void {
  if (points.size === 0 || !points.has(point)) return;
  process.stderr.write(`crash point ${point} reached: SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}
