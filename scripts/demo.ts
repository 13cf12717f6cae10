// `npm run demo`: a whole Stratus site on this host. Starts a controller (embedded MQTT broker, SQLite)
// and an agent (libvirt, QEMU/TCG) and its own tgtd (persistent disks), registers the test guest image with the CLI, launches a VM
// through the REST API, waits until it runs and its console shows it booted, then prints the
// dashboard URL and commands to try. `--once` then cleans up and exits 0; otherwise Ctrl-C does.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tgtadm } from '../drivers/tgtadm.ts';

const once = process.argv.includes('--once');
const root = new URL('..', import.meta.url).pathname;
const dir = '/var/lib/stratus/demo';
const API = '127.0.0.1:18480';
const MQTT = '127.0.0.1:18883';
const AGENT_API = '127.0.0.1:18470';
// the demo's own tgtd (iSCSI target daemon for persistent disks): its management port and portal
const TGT_CONTROL_PORT = 18326;
const TGT_PORTAL = '127.0.0.1:13260';
const url = `http://${API}`;
const say = (s: string) => process.stdout.write(`${s}\n`);
let token = '';

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
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Runs the CLI without blocking the event loop: a blocked loop would not see the controller close an
 * idle keep-alive connection, and the next fetch would fail on it ("other side closed").
 */
function stratus(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      [join(root, 'bin/stratus.js'), ...args],
      { encoding: 'utf8', env: { ...process.env, STRATUS_URL: url, STRATUS_TOKEN: token } },
      (err, stdout, stderr) =>
        err ? reject(new Error(`stratus ${args.join(' ')}: ${stderr.trim()}`)) : resolve(stdout),
    ),
  );
}

function daemon(name: string, bin: string, config: string): ChildProcess {
  const log = join(dir, `${name}.log`);
  const out = openSync(log, 'a');
  return spawn(process.execPath, [join(root, 'bin', bin), '--config', config], { stdio: ['ignore', out, out] });
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

/**
 * Starts the demo's tgtd, as setup-host.sh starts libvirtd: a private instance (its own management port
 * and portal) so that `stratus disk create` works. One left by an interrupted demo is reused.
 */
async function startTgtd(): Promise<ChildProcess | undefined> {
  const tgt = new Tgtadm({ controlPort: TGT_CONTROL_PORT });
  if (await tgt.ping()) return undefined;
  const out = openSync(join(dir, 'tgtd.log'), 'a');
  const p = spawn('tgtd', ['-f', '-C', String(TGT_CONTROL_PORT), '--iscsi', `portal=${TGT_PORTAL}`], {
    stdio: ['ignore', out, out],
  });
  await waitFor(
    'tgtd',
    async () => {
      if (p.exitCode !== null) throw new Error(`tgtd exited (${p.exitCode}); see ${dir}/tgtd.log`);
      return (await tgt.ping()) ? true : undefined;
    },
    15_000,
  );
  return p;
}

/** tgtd ignores SIGTERM: it is asked to exit through its management port, and killed if it does not. */
async function stopTgtd(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  try {
    execFileSync('tgtadm', ['-C', String(TGT_CONTROL_PORT), '--op', 'delete', '--mode', 'system'], { stdio: 'ignore' });
  } catch {
    // killed below
  }
  const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  mkdirSync(join(dir, 'controller'), { recursive: true });
  mkdirSync(join(dir, 'agent'), { recursive: true });
  // dnsmasq drops to `nobody` and must reach its hosts file under dhcp_dir
  for (const d of ['/var/lib/stratus', dir]) chmodSync(d, 0o755);
  writeFileSync(
    join(dir, 'controller.toml'),
    `[controller]\nstate_dir = "${dir}/controller"\nsite = "demo"\n[mqtt]\nlisten = "${MQTT}"\n[api]\nlisten = "${API}"\n` +
      `[network]\ndhcp_dir = "${dir}/dhcp"\ncontext_flavour = "nocloud"\ncontext_addressing = "dhcp"\n` +
      `[volumes]\ntgt_control_port = ${TGT_CONTROL_PORT}\niscsi_portal = "${TGT_PORTAL}"\n`,
  );
  writeFileSync(
    join(dir, 'agent.toml'),
    `[agent]\nstate_dir = "${dir}/agent"\nconsole_log_dir = "${dir}/console"\nhost_id = "demo-host"\n` +
      `[libvirt]\nvirt_type = "qemu"\nshutdown_timeout_s = 10\n[api]\nlisten = "${AGENT_API}"\n` +
      `[mqtt]\nurl = "mqtt://${MQTT}"\nmetrics_interval_s = 5\n`,
  );
  say(
    `Starting tgtd (iSCSI targets for persistent disks; management port ${TGT_CONTROL_PORT}, portal ${TGT_PORTAL}) ...`,
  );
  const tgtd = await startTgtd();
  say('Starting stratus-controller (REST API, embedded MQTT broker, SQLite) ...');
  const controller = daemon('controller', 'stratus-controller.js', join(dir, 'controller.toml'));
  say('Starting stratus-agent (libvirt qemu:///system, QEMU under TCG) ...');
  const agent = daemon('agent', 'stratus-agent.js', join(dir, 'agent.toml'));
  try {
    const tokenFile = join(dir, 'controller', 'admin.token');
    await waitFor(
      'the controller',
      async () => (existsSync(tokenFile) && (await fetch(`${url}/v1/health`)).ok ? true : undefined),
      60_000,
    );
    token = readFileSync(tokenFile, 'utf8').trim();
    await waitFor(
      'the host to report',
      async () => ((await call('GET', '/v1/hosts/demo-host')).up ? true : undefined),
      60_000,
    );
    say(await stratus('host', 'list'));

    // a previous demo that was interrupted may have left its VM behind
    for (const vm of (await call('GET', '/v1/vms')).items as { id: string; name: string }[]) {
      if (vm.name === 'demo-vm') await call('DELETE', `/v1/vms/${vm.id}`);
    }
    const images = (await call('GET', '/v1/images')).items as { name: string }[];
    if (!images.some((i) => i.name === 'test-guest')) {
      const g = execFileSync('bash', [join(root, 'scripts/build-test-guest.sh'), '--print-dir'], {
        encoding: 'utf8',
      }).trim();
      const cmdline = (JSON.parse(readFileSync(join(g, 'manifest.json'), 'utf8')) as { cmdline: string }).cmdline;
      say('Registering the test guest (built from Debian packages) with the CLI ...');
      const up = async (...a: string[]) =>
        JSON.parse(await stratus('image', 'upload', ...a, '--public', '--json')).id as string;
      const kernel = await up(join(g, 'vmlinuz'), '--name', 'test-guest-kernel', '--format', 'kernel');
      const initrd = await up(join(g, 'initrd.img'), '--name', 'test-guest-initrd', '--format', 'ramdisk');
      await up(
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
    say(await stratus('image', 'list'));

    const nets = (await call('GET', '/v1/networks')).items as { name: string }[];
    if (!nets.some((n) => n.name === 'demo-net')) {
      say('Creating network demo-net (bridge stratusdemo0, 10.231.7.0/24, DHCP by the controller) ...');
      await stratus(
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
    say(await stratus('net', 'leases', 'demo-net'));
    say('Creating a 1 GiB persistent disk on tgtd ...');
    for (const d of (await call('GET', '/v1/volumes')).items as { id: string; name: string }[]) {
      if (d.name === 'demo-disk') await call('DELETE', `/v1/volumes/${d.id}`);
    }
    say(await stratus('disk', 'create', 'demo-disk', '--size', '1'));
    if (once) {
      await call('DELETE', `/v1/vms/${vm!.id}`);
      for (const d of (await call('GET', '/v1/volumes')).items as { id: string; name: string }[]) {
        if (d.name === 'demo-disk') await call('DELETE', `/v1/volumes/${d.id}`);
      }
      say('Cleaned up. Demo done.');
      return;
    }
    say(`
Dashboard: ${url}/dashboard/
Try:
  export STRATUS_URL=${url} STRATUS_TOKEN=$(cat ${tokenFile})
  node ${join(root, 'bin/stratus.js')} vm list
  node ${join(root, 'bin/stratus.js')} vm show ${vm!.id}
  node ${join(root, 'bin/stratus.js')} vm console ${vm!.id}
  node ${join(root, 'bin/stratus.js')} vm create more --type t1.micro --image test-guest --count 2 --wait
  node ${join(root, 'bin/stratus.js')} key add mykey ~/.ssh/id_ed25519.pub
  node ${join(root, 'bin/stratus.js')} vm create web --type t1.micro --image test-guest --net demo-net --wait
  node ${join(root, 'bin/stratus.js')} disk create d1 --size 1
  node ${join(root, 'bin/stratus.js')} disk list
Logs: ${dir}/controller.log, ${dir}/agent.log, ${dir}/tgtd.log.  Ctrl-C to clean up and stop.`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    await call('DELETE', `/v1/vms/${vm!.id}`).catch(() => undefined);
    say('\nCleaned up.');
  } finally {
    await stop(agent);
    await stop(controller);
    if (tgtd) await stopTgtd(tgtd);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    const cause = (err as { cause?: { message?: string; code?: string } }).cause;
    const why = cause ? ` (${cause.code ?? ''} ${cause.message ?? ''})` : '';
    process.stderr.write(`demo failed: ${(err as Error).message}${why} (logs in ${dir})\n`);
    process.exit(1);
  },
);
