// sd_notify through libsystemd: a real agent started with NOTIFY_SOCKET and WATCHDOG_USEC (as systemd
// starts a Type=notify unit) sends READY=1, feeds the watchdog, reports its status and STOPPING=1 on
// SIGTERM. The notification socket is a Python AF_UNIX datagram socket (Node cannot bind one).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { SystemdNotifier, watchdogPeriodMs } from '../../drivers/systemd-notify.ts';
import { startAgent } from '../helpers/agent-process.ts';
import { waitFor } from '../helpers/wait.ts';

const RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    data = s.recv(4096)
    print(data.decode().replace("\\n", "|"), flush=True)
`;

interface Receiver {
  path: string;
  messages: () => string[];
  proc: ChildProcess;
}

async function notifySocket(dir: string): Promise<Receiver> {
  const path = join(dir, 'notify.sock');
  const proc = spawn('/usr/bin/python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (b) => (out += b));
  await waitFor('the notification socket', () => out.startsWith('bound') && existsSync(path));
  return { path, proc, messages: () => out.split('\n').slice(1).filter(Boolean) };
}

t.test('watchdog period: WATCHDOG_USEC in ms, ignored when WATCHDOG_PID names another process', async (t) => {
  t.equal(watchdogPeriodMs({ WATCHDOG_USEC: '30000000' }, 42), 30_000);
  t.equal(watchdogPeriodMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 30_000);
  t.equal(watchdogPeriodMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '43' }, 42), 0);
  t.equal(watchdogPeriodMs({}, 42), 0);
  t.equal(watchdogPeriodMs({ WATCHDOG_USEC: 'x' }, 42), 0);
});

t.test('without NOTIFY_SOCKET every notification is a no-op', async (t) => {
  const saved = process.env['NOTIFY_SOCKET'];
  delete process.env['NOTIFY_SOCKET'];
  t.teardown(() => {
    if (saved !== undefined) process.env['NOTIFY_SOCKET'] = saved;
  });
  const n = new SystemdNotifier();
  t.equal(n.active, false);
  t.equal(n.watchdogIntervalMs, 0);
  t.equal(n.send('READY=1'), false);
  n.ready();
  n.stopping();
  n.close();
});

t.test('a notifier sends one datagram per call, with newline-free STATUS text', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-notify-'));
  const rx = await notifySocket(dir);
  t.teardown(() => {
    rx.proc.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  // sd_notify() reads NOTIFY_SOCKET from the process environment, which Node's process.env updates
  process.env['NOTIFY_SOCKET'] = rx.path;
  t.teardown(() => {
    delete process.env['NOTIFY_SOCKET'];
  });
  const n = new SystemdNotifier();
  t.equal(n.active, true, 'libsystemd.so.0 is loaded');
  n.status('two\nlines');
  n.stopping();
  await waitFor('two datagrams', () => rx.messages().length >= 2);
  t.same(rx.messages(), ['STATUS=two lines', 'STOPPING=1|STATUS=stopping']);
});

t.test('the agent under a Type=notify-like start: READY=1, watchdog fed, status, STOPPING=1 on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-notify-'));
  const rx = await notifySocket(dir);
  t.teardown(() => {
    rx.proc.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  // a 400 ms watchdog: the agent must send WATCHDOG=1 every 200 ms
  const agent = await startAgent({ env: { NOTIFY_SOCKET: rx.path, WATCHDOG_USEC: '400000' } });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  await waitFor('READY=1 then the running status', () => rx.messages().some((m) => m.startsWith('STATUS=running')));
  const ready = rx.messages().findIndex((m) => m.startsWith('READY=1|STATUS='));
  t.ok(ready >= 0, 'READY=1 sent with a status line');
  await waitFor('three watchdog keep-alives', () => rx.messages().filter((m) => m === 'WATCHDOG=1').length >= 3);
  t.ok(rx.messages().indexOf('WATCHDOG=1') > ready, 'the watchdog is fed only after READY=1');
  await agent.kill('SIGTERM');
  t.equal(agent.proc.exitCode, 0, `clean exit (signal: ${agent.proc.signalCode ?? 'none'})`);
  t.ok(
    rx.messages().some((m) => m.startsWith('STOPPING=1')),
    'STOPPING=1 sent on SIGTERM',
  );
});
