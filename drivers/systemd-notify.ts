// systemd service notifications (sd_notify) for units with Type=notify: READY=1 once the daemon serves,
// WATCHDOG=1 every half of WATCHDOG_USEC from a main-thread timer (so a stuck event loop starves the
// watchdog and systemd restarts the service), STATUS= lines for `systemctl status`, STOPPING=1 on
// shutdown. Calls libsystemd.so.0's sd_notify() through koffi; a no-op when the process was not started
// with NOTIFY_SOCKET (a terminal, the tests) or when libsystemd is not installed.

import koffi from 'koffi';

type SdNotifyFn = (unsetEnvironment: number, state: string) => number;

let sdNotifyFn: SdNotifyFn | null | undefined;

/** sd_notify() from libsystemd.so.0, loaded once; null when the library is absent. */
function loadSdNotify(): SdNotifyFn | null {
  if (sdNotifyFn !== undefined) return sdNotifyFn;
  try {
    const lib = koffi.load('libsystemd.so.0');
    sdNotifyFn = lib.func('int sd_notify(int unset_environment, const char *state)') as SdNotifyFn;
  } catch {
    sdNotifyFn = null;
  }
  return sdNotifyFn;
}

/** The watchdog period systemd asked for (WATCHDOG_USEC), in ms; 0 when none or meant for another PID. */
export function watchdogPeriodMs(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): number {
  const usec = Number(env['WATCHDOG_USEC'] ?? '');
  if (!Number.isFinite(usec) || usec <= 0) return 0;
  const forPid = env['WATCHDOG_PID'];
  if (forPid !== undefined && forPid !== '' && Number(forPid) !== pid) return 0;
  return Math.max(1, Math.floor(usec / 1000));
}

/** One line of STATUS= text: no newlines (each line of the message is a separate assignment). */
function statusLine(text: string): string {
  return `STATUS=${text.replace(/[\r\n]+/g, ' ').slice(0, 200)}`;
}

export class SystemdNotifier {
  /** True when notifications go somewhere: NOTIFY_SOCKET is set and libsystemd is loaded. */
  readonly active: boolean;
  /** Interval at which WATCHDOG=1 is sent once ready (half of WATCHDOG_USEC); 0 without a watchdog. */
  readonly watchdogIntervalMs: number;
  private readonly fn: SdNotifyFn | null;
  private timer: NodeJS.Timeout | undefined;

  /** Reads NOTIFY_SOCKET and WATCHDOG_* from the real environment, where sd_notify() itself looks. */
  constructor() {
    this.fn = process.env['NOTIFY_SOCKET'] ? loadSdNotify() : null;
    this.active = this.fn !== null;
    const period = this.active ? watchdogPeriodMs() : 0;
    this.watchdogIntervalMs = period > 0 ? Math.max(1, Math.floor(period / 2)) : 0;
  }

  /** Sends raw assignments (KEY=value lines); returns false when nothing was sent. */
  send(...assignments: string[]): boolean {
    if (!this.fn || assignments.length === 0) return false;
    return this.fn(0, assignments.join('\n')) > 0;
  }

  /** The service is up: READY=1 (with a status line), and the watchdog starts being fed. */
  ready(status = 'running'): void {
    this.send('READY=1', statusLine(status));
    if (this.watchdogIntervalMs > 0 && !this.timer) {
      this.timer = setInterval(() => this.send('WATCHDOG=1'), this.watchdogIntervalMs);
      this.timer.unref();
      this.send('WATCHDOG=1');
    }
  }

  status(text: string): void {
    this.send(statusLine(text));
  }

  /** Shutdown has begun: STOPPING=1. The watchdog keeps being fed until close(). */
  stopping(status = 'stopping'): void {
    this.send('STOPPING=1', statusLine(status));
  }

  /** Stops feeding the watchdog (call when the process is about to exit). */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
