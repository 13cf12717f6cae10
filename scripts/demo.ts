// `npm run demo`: a whole Stratus site on this host. Starts a controller (embedded MQTT broker, SQLite)
// and an agent (libvirt, QEMU/TCG), registers the test guest image with the CLI, launches a VM
// through the REST API, waits until it runs and its console shows it booted, then prints the
// dashboard URL and commands to try. `--once` then cleans up and exits 0; otherwise Ctrl-C does.
// The host is enrolled as on a real site: `stratus host add demo-host` gives a one-time join token and
// `stratus-agent join` redeems it for the host's own broker account (nothing connects anonymously).
//
// Ctrl-C at any moment cleans up for real: the daemons run in their own process group, so the
// terminal's SIGINT reaches only this script, which deletes the demo's VMs (the agent confirms each
// domain is gone), then stops the agent and the controller, and says "Cleaned up." only when all of
// that succeeded. Daemons left by a demo that was killed outright are stopped at the next start.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const once = process.argv.includes('--once');
const root = new URL('..', import.meta.url).pathname;
const dir = '/var/lib/stratus/demo';
const API = '127.0.0.1:18480';
const MQTT = '127.0.0.1:18883';
const url = `http://${API}`;
const say = (s: string) => process.stdout.write(`${s}\n`);
let token = '';
/** Set by Ctrl-C (or SIGTERM): every wait gives up and the demo cleans up. */
let interrupted = false;
let onInterrupt: () => void = () => undefined;
const interruption = new Promise<void>((resolve) => {
  onInterrupt = resolve;
});
let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    signals++;
    interrupted = true;
    onInterrupt();
    if (signals === 3) {
      process.stderr.write('\ndemo abandoned before cleaning up: run `npm run demo -- --once` to clean up\n');
      process.exit(130);
    }
    if (signals === 2) process.stderr.write('\ncleaning up (Ctrl-C once more abandons it) ...\n');
  });
}

class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : null,
  });
  const text = await res.text();
  const parsed = text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${parsed.title ?? text}`);
  return parsed;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (interrupted) throw new Interrupted();
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function stratus(...args: string[]): string {
  return execFileSync(process.execPath, [join(root, 'bin/stratus.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, STRATUS_URL: url, STRATUS_TOKEN: token },
  });
}

/** Starts a daemon in its own process group (the terminal's Ctrl-C does not reach it) and records its pid. */
function daemon(name: string, bin: string, config: string): ChildProcess {
  const log = join(dir, `${name}.log`);
  const out = openSync(log, 'a');
  const p = spawn(process.execPath, [join(root, 'bin', bin), '--config', config], {
    stdio: ['ignore', out, out],
    detached: true,
  });
  writeFileSync(join(dir, `${name}.pid`), String(p.pid));
  return p;
}

async function stop(p: ChildProcess, name: string): Promise<boolean> {
  if (p.exitCode === null && p.signalCode === null) {
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(join(dir, `${name}.pid`), { force: true });
  return p.exitCode === 0 || p.signalCode === 'SIGTERM';
}

/** Daemons of an earlier demo that was killed outright (their pid file names them): stopped first. */
async function stopLeftovers(): Promise<void> {
  for (const name of ['agent', 'controller']) {
    const file = join(dir, `${name}.pid`);
    if (!existsSync(file)) continue;
    const pid = Number(readFileSync(file, 'utf8'));
    const cmdline = (() => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    })();
    if (pid > 1 && cmdline.includes(join(dir, `${name}.toml`))) {
      say(`Stopping the ${name} of an earlier demo (pid ${pid}) ...`);
      process.kill(pid, 'SIGTERM');
      const end = Date.now() + 30_000;
      while (existsSync(`/proc/${pid}`) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
    }
    rmSync(file, { force: true });
  }
}

/** Deletes every demo VM and waits until the controller has them deleted (their host confirmed). */
async function deleteDemoVms(): Promise<string[]> {
  const problems: string[] = [];
  for (let round = 0; round < 3; round++) {
    const vms = ((await call('GET', '/v1/vms')).items as { id: string; name: string }[]).filter(
      (v) => v.name === 'demo-vm',
    );
    if (vms.length === 0) return [];
    problems.length = 0;
    for (const vm of vms) {
      await call('DELETE', `/v1/vms/${vm.id}`).catch((err: Error) => problems.push(`${vm.id}: ${err.message}`));
    }
    if (problems.length === 0) continue;
    await new Promise((r) => setTimeout(r, 2000));
  }
  return problems.length ? problems : ['demo VMs still listed after three rounds of deletes'];
}

async function main(): Promise<void> {
  mkdirSync(join(dir, 'controller'), { recursive: true });
  mkdirSync(join(dir, 'agent'), { recursive: true });
  // dnsmasq drops to `nobody` and must reach its hosts file under dhcp_dir
  for (const d of ['/var/lib/stratus', dir]) chmodSync(d, 0o755);
  writeFileSync(
    join(dir, 'controller.toml'),
    `[controller]\nstate_dir = "${dir}/controller"\nsite = "demo"\n[mqtt]\nlisten = "${MQTT}"\n[api]\nlisten = "${API}"\n` +
      `[network]\ndhcp_dir = "${dir}/dhcp"\ncontext_flavour = "nocloud"\ncontext_addressing = "dhcp"\n`,
  );
  writeFileSync(
    join(dir, 'agent.toml'),
    `[agent]\nstate_dir = "${dir}/agent"\nconsole_log_dir = "${dir}/console"\nhost_id = "demo-host"\n` +
      `[libvirt]
virt_type = "qemu"
shutdown_timeout_s = 10
[api]
listen = "unix:${dir}/agent.sock"
` +
      `[mqtt]
metrics_interval_s = 5
`,
  );
  await stopLeftovers();
  say('Starting stratus-controller (REST API, embedded MQTT broker, SQLite) ...');
  const controller = daemon('controller', 'stratus-controller.js', join(dir, 'controller.toml'));
  let agent: ChildProcess | undefined;
  let cleaned = false;
  let problems: string[] = [];
  try {
    await Promise.race([
      run((a) => {
        agent = a;
      }),
      interruption,
    ]);
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
  } finally {
    // the VM first (its agent must still run to remove the domain), then the daemons
    if (token) problems = await deleteDemoVms().catch((err: Error) => [`cannot list or delete VMs: ${err.message}`]);
    const agentStopped = agent ? await stop(agent, 'agent') : true;
    const controllerStopped = await stop(controller, 'controller');
    if (!agentStopped) problems.push(`the agent did not stop cleanly (see ${dir}/agent.log)`);
    if (!controllerStopped) problems.push(`the controller did not stop cleanly (see ${dir}/controller.log)`);
    cleaned = problems.length === 0;
  }
  if (!cleaned) throw new Error(`not cleaned up: ${problems.join('; ')}`);
  say(once && !interrupted ? 'Cleaned up. Demo done.' : '\nCleaned up.');
}

/** Enrols demo-host once (its credentials stay in the agent's state directory). */
function enrol(): void {
  if (existsSync(join(dir, 'agent', 'credentials.json'))) return;
  say('Enrolling demo-host: stratus host add demo-host, then stratus-agent join ...');
  try {
    stratus('host', 'revoke', 'demo-host'); // an earlier demo interrupted before its agent joined
  } catch {
    // nothing to revoke
  }
  const { token: joinToken } = JSON.parse(stratus('host', 'add', 'demo-host', '--json')) as { token: string };
  execFileSync(
    process.execPath,
    [join(root, 'bin/stratus-agent.js'), '--config', join(dir, 'agent.toml'), 'join', url, joinToken],
    { stdio: 'inherit' },
  );
}

async function run(started: (agent: ChildProcess) => void): Promise<void> {
  {
    const tokenFile = join(dir, 'controller', 'admin.token');
    await waitFor(
      'the controller',
      async () => (existsSync(tokenFile) && (await fetch(`${url}/v1/health`)).ok ? true : undefined),
      60_000,
    );
    token = readFileSync(tokenFile, 'utf8').trim();
    enrol();
    say('Starting stratus-agent (libvirt qemu:///system, QEMU under TCG) ...');
    started(daemon('agent', 'stratus-agent.js', join(dir, 'agent.toml')));
    await waitFor(
      'the host to report',
      async () => ((await call('GET', '/v1/hosts/demo-host')).up ? true : undefined),
      60_000,
    );
    say(stratus('host', 'list'));

    // a previous demo that was interrupted may have left its VM behind
    const leftovers = await deleteDemoVms();
    if (leftovers.length) throw new Error(`a VM of an earlier demo cannot be deleted: ${leftovers.join('; ')}`);
    const images = (await call('GET', '/v1/images')).items as { name: string }[];
    if (!images.some((i) => i.name === 'test-guest')) {
      const g = execFileSync('bash', [join(root, 'scripts/build-test-guest.sh'), '--print-dir'], {
        encoding: 'utf8',
      }).trim();
      const cmdline = (JSON.parse(readFileSync(join(g, 'manifest.json'), 'utf8')) as { cmdline: string }).cmdline;
      say('Registering the test guest (built from Debian packages) with the CLI ...');
      const up = (...a: string[]) => JSON.parse(stratus('image', 'upload', ...a, '--public', '--json')).id as string;
      const kernel = up(join(g, 'vmlinuz'), '--name', 'test-guest-kernel', '--format', 'kernel');
      const initrd = up(join(g, 'initrd.img'), '--name', 'test-guest-initrd', '--format', 'ramdisk');
      up(
        join(g, 'disk.qcow2'),
        '--name',
        'test-guest',
        '--format',
        'qcow2',
        '--kernel',
        kernel,
        '--ramdisk',
        initrd,
        '--cmdline',
        cmdline,
        '--os',
        'busybox',
      );
    }
    say(stratus('image', 'list'));

    const nets = (await call('GET', '/v1/networks')).items as { name: string }[];
    if (!nets.some((n) => n.name === 'demo-net')) {
      say('Creating network demo-net (bridge stratusdemo0, 10.231.7.0/24, DHCP by the controller) ...');
      stratus(
        'net',
        'create',
        'demo-net',
        '--bridge',
        'stratusdemo0',
        '--cidr',
        '10.231.7.0/24',
        '--gateway',
        '10.231.7.1',
      );
    }
    await waitFor(
      'the DHCP server of demo-net',
      async () => ((await call('GET', '/v1/networks/demo-net')).dhcp?.running ? true : undefined),
      30_000,
    );

    say('Launching demo-vm (m1.small, test-guest, on demo-net) through the REST API ...');
    const t0 = Date.now();
    const body = { name: 'demo-vm', type: 'm1.small', image: 'test-guest', nics: [{ network: 'demo-net' }] };
    if (interrupted) throw new Interrupted();
    const [vm] = (await call('POST', '/v1/vms', body)).items as { id: string }[];
    const running = await waitFor(
      'the VM to run',
      async () => {
        const v = await call('GET', `/v1/vms/${vm!.id}`);
        if (v.state === 'failed') throw new Error(`VM failed: ${v.reason}`);
        return v.state === 'running' ? v : undefined;
      },
      300_000,
    );
    say(`  ${vm!.id} is running on ${running.host} after ${Date.now() - t0} ms`);
    const line = await waitFor(
      'the boot line',
      async () => {
        const text = (await call('GET', `/v1/vms/${vm!.id}/console`)) as string;
        return text.split('\n').find((l) => l.includes('STRATUS-GUEST-BOOTED'));
      },
      120_000,
    );
    say(`  console: ${line.trim()}   (${Date.now() - t0} ms after launch)`);
    const lines = await waitFor(
      'the lease and the context on the console',
      async () => {
        const text = (await call('GET', `/v1/vms/${vm!.id}/console`)) as string;
        const got = text.split('\n').filter((l) => /STRATUS-(CONTEXT|DHCP)/.test(l));
        return got.some((l) => l.includes('STRATUS-DHCP')) ? got : undefined;
      },
      120_000,
    );
    for (const l of lines) say(`  console: ${l.trim()}`);
    say(stratus('net', 'leases', 'demo-net'));
    if (once) return;
    say(`
Dashboard: ${url}/dashboard/ (log in with the admin token: cat ${tokenFile})
Metrics:   curl -H "Authorization: Bearer $(cat ${tokenFile})" ${url}/metrics
Try:
  export STRATUS_URL=${url} STRATUS_TOKEN=$(cat ${tokenFile})
  node ${join(root, 'bin/stratus.js')} vm list
  node ${join(root, 'bin/stratus.js')} vm show ${vm!.id}
  node ${join(root, 'bin/stratus.js')} vm console ${vm!.id}
  node ${join(root, 'bin/stratus.js')} vm create more --type t1.micro --image test-guest --count 2 --wait
Logs: ${dir}/controller.log, ${dir}/agent.log.  Ctrl-C to clean up and stop.`);
    await interruption;
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`demo failed: ${(err as Error).message} (logs in ${dir})\n`);
    process.exit(1);
  },
);
