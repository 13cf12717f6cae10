// `npm run demo`: starts a stratus-agent on this host, boots the test guest through the agent's API
// under QEMU/TCG and prints its console line. `--once` then cleans up and exits 0; otherwise it keeps
// running (with a few commands to try) until Ctrl-C, then cleans up.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const once = process.argv.includes('--once');
const root = new URL('..', import.meta.url).pathname;
const dir = '/var/lib/stratus/demo';
const port = 18470;
const api = `http://127.0.0.1:${port}`;
const say = (s: string) => process.stdout.write(`${s}\n`);

function guestFiles() {
  const g = execFileSync('bash', [join(root, 'scripts/build-test-guest.sh'), '--print-dir'], { encoding: 'utf8' }).trim();
  const m = JSON.parse(readFileSync(join(g, 'manifest.json'), 'utf8')) as { cmdline: string };
  return { kernel: join(g, 'vmlinuz'), initrd: join(g, 'initrd.img'), cmdline: m.cmdline };
}

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(api + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
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
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main(): Promise<void> {
  mkdirSync(join(dir, 'state'), { recursive: true });
  writeFileSync(
    join(dir, 'agent.toml'),
    `[agent]\nstate_dir = "${dir}/state"\nconsole_log_dir = "${dir}/console"\nhost_id = "demo-host"\n` +
      `[libvirt]\nvirt_type = "qemu"\nshutdown_timeout_s = 10\n[api]\nlisten = "127.0.0.1:${port}"\n`,
  );
  say('Starting stratus-agent (libvirt qemu:///system, TCG) ...');
  const agent: ChildProcess = spawn(process.execPath, [join(root, 'bin/stratus-agent.js'), '--config', join(dir, 'agent.toml')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const stopAgent = async () => {
    if (agent.exitCode !== null) return;
    const exited = new Promise((r) => agent.once('exit', r));
    agent.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor('the agent API', async () => ((await call('GET', '/v1/health')).status === 'ok' ? true : undefined), 60_000);
    // a previous demo that was interrupted may have left its VM behind
    for (const vm of (await call('GET', '/v1/vms')).items as { id: string; name: string }[]) {
      if (vm.name === 'demo-vm') await call('DELETE', `/v1/vms/${vm.id}`);
    }
    const g = guestFiles();
    const id = randomUUID();
    say(`Launching VM demo-vm (${id}) from the test guest ...`);
    const t0 = Date.now();
    const vm = await call('POST', '/v1/vms', {
      spec: {
        id,
        name: 'demo-vm',
        vcpus: 1,
        memoryMiB: 192,
        boot: { kernel: g.kernel, initrd: g.initrd, cmdline: `${g.cmdline} stratus.hostname=demo-vm stratus.dhcp=0` },
      },
    });
    say(`  domain ${vm.domain} is ${vm.state} after ${Date.now() - t0} ms`);
    const line = await waitFor(
      'the guest boot line',
      async () => {
        const text = (await call('GET', `/v1/vms/${id}/console`)) as string;
        return text.split('\n').find((l) => l.includes('STRATUS-GUEST-BOOTED'));
      },
      120_000,
    );
    say(`  console: ${line.trim()}   (${Date.now() - t0} ms after launch)`);
    if (once) {
      await call('DELETE', `/v1/vms/${id}`);
      say('Cleaned up. Demo done.');
      return;
    }
    say(`\nThe agent is running. Try:\n  curl -s ${api}/v1/vms | head -c 600\n  curl -s ${api}/v1/vms/${id}/console\n` +
      `  curl -s -XPOST ${api}/v1/vms/${id}/reboot\n  virsh -c qemu:///system console ${vm.domain}\nCtrl-C to clean up and stop.`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    await call('DELETE', `/v1/vms/${id}`).catch(() => undefined);
    say('\nCleaned up.');
  } finally {
    await stopAgent();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
