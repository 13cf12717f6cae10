// bench/agent-footprint: one agent with 50 domains sending status, host metrics and the VM metrics
// batch every 10 s → its RSS and CPU. Baseline in the same run: the same agent, same 50 domains,
// without MQTT (what the telemetry costs on top). The agent runs as shipped (esbuild bundle of
// packaging/bundle.ts) unless --from-sources. Domains live in libvirt's test driver (test:///default):
// 50 TCG guests would not fit on a 2-core machine and would drown the agent's own CPU in QEMU's; the
// agent does the same work per domain (bulk stats, state), only libvirtd's side is cheaper. The bundle runs
// with the Node options and environment of its launcher (packaging/packages.ts: launcherNodeFlags, env), as
// /usr/bin/stratus-agent runs it. RSS counts the pages of node, libvirt.so and friends that other processes share; PSS and
// anonymous memory are printed beside it, and what the RSS is made of at its peak (`breakdown_mb`: the
// Node binary, shared libraries, anonymous memory, malloc heap; bench/README.md says what each is for).
// --workers sets [libvirt] workers (default: the agent's default).
//   npm run bench -- agent-footprint [--vms 50] [--interval 10] [--duration 60] [--warmup 15] [--workers N] [--from-sources]
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { bundleProgram } from '../packaging/bundle.ts';
import { launcherNodeFlags, PROGRAMS } from '../packaging/packages.ts';
import { freePort } from '../test/helpers/agent-process.ts';
import { GUEST_DIR, guestSpec } from '../test/helpers/guest.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { cpuSeconds, memBreakdown, memByMapping, rssBytes } from './_proc.ts';

const { values } = parseArgs({
  options: {
    vms: { type: 'string', default: '50' },
    interval: { type: 'string', default: '10' },
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '15' },
    'from-sources': { type: 'boolean', default: false },
    workers: { type: 'string', default: '' },
  },
});
const VMS = Number(values.vms);
const INTERVAL_S = Number(values.interval);
const DURATION_MS = Number(values.duration) * 1000;
const WARMUP_MS = Number(values.warmup) * 1000;
const root = new URL('..', import.meta.url).pathname;

let program = join(root, 'bin/stratus-agent.js');
let nodeFlags: string[] = [];
let launcherEnv: Record<string, string> = {};
if (!values['from-sources']) {
  const out = join(root, 'build/bench-agent-footprint');
  const pkg = PROGRAMS.find((p) => p.name === 'stratus-agent')!;
  await bundleProgram(root, pkg, out);
  program = join(out, 'stratus-agent.js');
  nodeFlags = launcherNodeFlags(pkg);
  launcherEnv = pkg.env ?? {};
}

// the broker: a bare aedes (the baseline process of fleet-sim) that counts what it receives
const broker = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/_fleet-floor.ts')], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const brokerOut: string[] = [];
createInterface({ input: broker.stdout! }).on('line', (l) => brokerOut.push(l));
const { port: brokerPort } = JSON.parse(await waitFor('broker', () => brokerOut.shift(), 30_000, 10)) as {
  port: number;
};

async function run(
  label: string,
  mqtt: boolean,
): Promise<{
  rssMb: number;
  pssMb: number;
  anonMb: number;
  cpuPct: number;
  msgs: number;
  byMapping: ReturnType<typeof memByMapping>;
  workers: number;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-footprint-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'agent.toml'),
    `[agent]\nstate_dir = "${dir}"\nconsole_log_dir = "${dir}/console"\nhost_id = "footprint"\n` +
      `allowed_roots = ${JSON.stringify([GUEST_DIR, dir])}\n` +
      `[libvirt]\nuri = "test:///default"\nvirt_type = "qemu"\n[api]\nlisten = "127.0.0.1:${port}"\n[log]\nlevel = "warn"\n` +
      (mqtt ? `[mqtt]\nurl = "mqtt://127.0.0.1:${brokerPort}"\nmetrics_interval_s = ${INTERVAL_S}\n` : ''),
  );
  const agent: ChildProcess = spawn(process.execPath, [...nodeFlags, program, '--config', join(dir, 'agent.toml')], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...launcherEnv,
      ...process.env,
      ...(values.workers ? { STRATUS_AGENT_LIBVIRT_WORKERS: values.workers } : {}),
    },
  });
  const api = `http://127.0.0.1:${port}`;
  await waitFor('agent', async () => (await fetch(`${api}/v1/health`)).ok, 30_000, 100);
  // the TCP listener wants the bearer token the agent wrote at its first start
  const token = readFileSync(join(dir, 'api.token'), 'utf8').trim();
  for (let i = 0; i < VMS; i++) {
    const r = await fetch(`${api}/v1/vms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ spec: guestSpec({ name: `fp-${i}` }) }),
    });
    if (r.status !== 201) throw new Error(`create failed: ${r.status} ${await r.text()}`);
  }
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  broker.stdin!.write('report\n');
  await waitFor('report', () => brokerOut.shift(), 10_000, 10);
  const c0 = cpuSeconds(agent.pid!);
  const t0 = Date.now();
  let rss = 0;
  let mem = { pssBytes: 0, anonBytes: 0 };
  let byMapping = memByMapping(agent.pid!);
  let workers = 0;
  while (Date.now() - t0 < DURATION_MS) {
    const r = rssBytes(agent.pid!);
    if (r > rss) {
      rss = r;
      mem = memBreakdown(agent.pid!);
      byMapping = memByMapping(agent.pid!);
      workers = threads(agent.pid!);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const cpuPct = ((cpuSeconds(agent.pid!) - c0) / ((Date.now() - t0) / 1000)) * 100;
  broker.stdin!.write('report\n');
  const { n } = JSON.parse(await waitFor('report', () => brokerOut.shift(), 10_000, 10)) as { n: number };
  agent.kill('SIGTERM');
  await new Promise((r) => agent.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  const rssMb = rss / 1_048_576;
  const pssMb = mem.pssBytes / 1_048_576;
  const anonMb = mem.anonBytes / 1_048_576;
  process.stdout.write(
    `${label}: RSS max ${rssMb.toFixed(1)} MB (PSS ${pssMb.toFixed(1)} MB, anonymous ${anonMb.toFixed(1)} MB; ` +
      `node binary ${mb(byMapping.nodeBinary)}, libraries ${mb(byMapping.libs)}, anonymous ${mb(byMapping.anon)}, ` +
      `malloc heap ${mb(byMapping.mallocHeap)} MB; ${workers} threads), ` +
      `CPU ${cpuPct.toFixed(2)} % of one core, ${n} MQTT messages in ${DURATION_MS / 1000} s\n`,
  );
  return { rssMb, pssMb, anonMb, cpuPct, msgs: n, byMapping, workers };
}

/** Threads of the process (main, libuv pool, V8 platform, koffi, libvirt call workers...). */
function threads(pid: number): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

const mb = (b: number) => Math.round((b / 1_048_576) * 10) / 10;

process.stdout.write(
  `agent-footprint: ${VMS} domains (test:///default), metrics every ${INTERVAL_S} s, ${
    values['from-sources']
      ? 'from sources (tsx)'
      : `bundled as shipped (${Object.entries(launcherEnv)
          .map(([k, v]) => `${k}=${v} `)
          .join('')}node ${nodeFlags.join(' ')})`
  }; ${cpus().length} × ${cpus()[0]?.model}\n`,
);
const base = await run('baseline (no MQTT)', false);
const res = await run('agent with MQTT telemetry', true);
broker.kill();
process.stdout.write(
  `${JSON.stringify({
    bench: 'agent-footprint',
    vms: VMS,
    interval_s: INTERVAL_S,
    workers: values.workers || 'default',
    rss_mb: Math.round(res.rssMb * 10) / 10,
    pss_mb: Math.round(res.pssMb * 10) / 10,
    anon_mb: Math.round(res.anonMb * 10) / 10,
    cpu_pct: Math.round(res.cpuPct * 100) / 100,
    breakdown_mb: {
      node_binary: mb(res.byMapping.nodeBinary),
      libraries: mb(res.byMapping.libs),
      anonymous: mb(res.byMapping.anon),
      malloc_heap: mb(res.byMapping.mallocHeap),
    },
    threads: res.workers,
    baseline_rss_mb: Math.round(base.rssMb * 10) / 10,
    baseline_cpu_pct: Math.round(base.cpuPct * 100) / 100,
    ratio: Math.round((res.cpuPct / Math.max(0.01, base.cpuPct)) * 100) / 100,
    messages: res.msgs,
    target: { rss_mb: 100, cpu_pct: 2 },
  })}\n`,
);
process.exit(0);
