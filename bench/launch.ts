// bench/launch: from POST /v1/vms to the VM running (domain started by the agent) with the image
// already cached on the host, for N sequential and N concurrent launches (default 10, `npm run bench -- launch 20`); in the same run, raw
// `virsh define` + `virsh start` of a domain of the same shape as t1.micro's (512 MiB, root overlay, swap
// disk, context CD-ROM; files made beforehand, untimed), one virsh process per domain.
// The concurrent batches alternate (virsh, Stratus, virsh, Stratus), each starting once the previous
// one's domains are gone, so that load from the rest of the machine weighs on both alike. The agent runs
// as shipped (its bundle), unless `--from-sources`.
// Targets: Stratus p50 - virsh p50 <= 150 ms, ratio <= 1.25 (sequential); concurrent_ratio (concurrent
// p50 / parallel virsh p50) <= 1.25.
import { execFile } from 'node:child_process';
import { Agent as HttpAgent, get as httpGet } from 'node:http';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildDomainXml } from '../agent/vm/domain-xml.ts';
import { buildIso } from '../drivers/iso.ts';
import { bundleProgram } from '../packaging/bundle.ts';
import { launcherNodeFlags, PROGRAMS } from '../packaging/packages.ts';
import { ADMIN_TOKEN, startController } from '../test/helpers/controller-process.ts';
import { perfStart } from './_perf.ts';
import { treeCpuSeconds } from './_proc.ts';
import { uploadTestGuest } from '../test/helpers/cloud-images.ts';
import { testGuest } from '../test/helpers/guest.ts';

const run = promisify(execFile);
const N = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 10);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const fmt = (xs: number[]) => `p50 ${pct(xs, 0.5).toFixed(0)} ms, p99 ${pct(xs, 0.99).toFixed(0)} ms`;

// the agent runs as shipped (its esbuild bundle, with the launcher's Node options and environment), as
// bench/agent-footprint runs it; `--from-sources` runs it through tsx instead
if (!process.argv.includes('--from-sources')) {
  const pkg = PROGRAMS.find((p) => p.name === 'stratus-agent')!;
  const out = join(new URL('..', import.meta.url).pathname, 'build', 'bench-launch');
  await bundleProgram(new URL('..', import.meta.url).pathname, pkg, out);
  process.env['STRATUS_TEST_AGENT_BUNDLE'] = join(out, 'stratus-agent.js');
  // STRATUS_BENCH_AGENT_NODE_ARGS adds options (a CPU profile: --cpu-prof --cpu-prof-dir=DIR)
  process.env['STRATUS_TEST_AGENT_NODE_FLAGS'] = [
    ...launcherNodeFlags(pkg),
    ...(process.env['STRATUS_BENCH_AGENT_NODE_ARGS'] ?? '').split(/\s+/).filter(Boolean),
  ].join(' ');
  process.env['STRATUS_TEST_AGENT_ENV'] = JSON.stringify(pkg.env ?? {});
}

// both daemons run with their shipped defaults where the test helpers choose otherwise: log level info
// (the helpers log at debug, for the tests to read) and metrics every 10 s (the helpers' agents send them
// every 2 s); environment variables override the helpers' configuration files
process.env['STRATUS_AGENT_LOG_LEVEL'] = 'info';
process.env['STRATUS_AGENT_MQTT_METRICS_INTERVAL_S'] = '10';

// TCG guests are mostly idle once booted: allow N concurrent 1-vCPU VMs on a small host
const c = await startController({
  scheduler: `policy = "packing"\ncpu_overcommit = ${Math.max(4, N)}`,
  logLevel: 'info',
});
const agent = await c.agent('bench-host');
/** CPU seconds the controller and the agent spent (with their helpers and the tools they ran). */
const daemonsCpu = () => {
  const own = process.cpuUsage();
  return {
    controller: treeCpuSeconds(c.proc.pid!),
    agent: treeCpuSeconds(agent.proc.pid!),
    // this process: the watcher's polls and the requests (the instrument, not the system measured)
    bench: (own.user + own.system) / 1e6,
  };
};
await uploadTestGuest(c, 'bench-guest');

// One watcher polls the VM list every 20 ms for every launch in flight: N concurrent launches load the
// controller as much as one. The poll is the measuring instrument, not the system measured, and it runs
// on the same 2 cores as the launches (which the virsh baseline, waiting on its own processes, never
// pays): at 5 ms (200 lists a second) it took a good part of a core; 20 ms adds 10 ms on average to a
// launch. It asks as a careful client would: one kept-alive connection, `If-None-Match` with the list's
// ETag (the controller answers 304 until a VM changes), the body parsed only when it changed.
const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 1 });
type Listed = { id: string; state: string; reason?: string }[];
/** The last list read and its ETag. */
let listed: Listed = [];
let listEtag = '';
function listVms(): Promise<Listed> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` };
    if (listEtag) headers['if-none-match'] = listEtag;
    const req = httpGet(`${c.url}/v1/vms`, { agent: keepAlive, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => {
        if (res.statusCode === 304) return resolve(listed);
        if (res.statusCode !== 200) return reject(new Error(`GET /v1/vms: HTTP ${res.statusCode}`));
        try {
          listed = JSON.parse(Buffer.concat(chunks).toString()).items;
        } catch (err) {
          return reject(new Error(`GET /v1/vms: unreadable list (${(err as Error).message})`));
        }
        listEtag = String(res.headers.etag ?? '');
        resolve(listed);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}
const waiters = new Map<string, { t0: number; resolve: (ms: number) => void; reject: (e: Error) => void }>();
let watching = false;
async function watch() {
  if (watching) return;
  watching = true;
  try {
    while (waiters.size > 0) {
      const items = await listVms();
      const now = performance.now();
      for (const v of items) {
        const w = waiters.get(v.id);
        if (!w) continue;
        if (v.state === 'running') w.resolve(now - w.t0);
        else if (v.state === 'failed') w.reject(new Error(`VM failed: ${v.reason}`));
        else if (now - w.t0 > 300_000) w.reject(new Error(`VM ${v.id} still ${v.state} after 300 s: ${v.reason}`));
        else continue;
        waiters.delete(v.id);
      }
      await new Promise((res) => setTimeout(res, 20));
    }
  } finally {
    watching = false;
  }
}

async function launchOne(name: string): Promise<{ id: string; ms: number }> {
  const t0 = performance.now();
  const r = await c.request('POST', '/v1/vms', { name, type: 't1.micro', image: 'bench-guest' });
  if (r.status !== 202) throw new Error(`launch: ${r.body.title}`);
  const id = r.body.items[0].id as string;
  const ms = await new Promise<number>((resolve, reject) => {
    waiters.set(id, { t0, resolve, reject });
    void watch();
  });
  return { id, ms };
}

async function deleteAll(ids: string[]) {
  await Promise.all(ids.map((id) => c.request('DELETE', `/v1/vms/${id}`)));
}

// warm-up: the first launch fetches the images into the host's cache
await deleteAll([(await launchOne('warm-up')).id]);

const seq: number[] = [];
for (let i = 0; i < N; i++) {
  const r = await launchOne(`seq-${i}`);
  seq.push(r.ms);
  await deleteAll([r.id]);
}

// baseline: virsh define + start of a domain of the same shape (overlays on the same base, made untimed)
const g = testGuest();
const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-launch-'));
async function prepare(i: number) {
  const id = randomUUID();
  const overlay = join(dir, `${id}.qcow2`);
  const swap = join(dir, `${id}-swap.qcow2`);
  const iso = join(dir, `${id}.iso`);
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', g.disk, overlay]);
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', swap, String(512 * 1024 ** 2)]);
  await buildIso({ label: 'CONTEXT', files: { 'context.sh': `SET_HOSTNAME='virsh-${i}'\n` }, out: iso });
  const spec = {
    id,
    name: `virsh-${i}`,
    vcpus: 1,
    memoryMiB: 512,
    boot: { kernel: g.kernel, initrd: g.initrd, cmdline: g.cmdline },
    disks: [
      { path: overlay, format: 'qcow2' as const },
      { path: swap, format: 'qcow2' as const },
    ],
    cdroms: [{ path: iso }],
    nics: [],
  };
  const file = join(dir, `${id}.xml`);
  writeFileSync(
    file,
    buildDomainXml(spec, { virtType: 'qemu', consoleLogPath: join(dir, `${id}.log`), hostId: 'bench' }),
  );
  return { name: `stratus-${id}`, file };
}
async function virshOne(d: { name: string; file: string }) {
  const t0 = performance.now();
  await run('virsh', ['-q', '-c', 'qemu:///system', 'define', d.file]);
  await run('virsh', ['-q', '-c', 'qemu:///system', 'start', d.name]);
  return performance.now() - t0;
}
async function virshCleanup(d: { name: string }) {
  await run('virsh', ['-q', '-c', 'qemu:///system', `destroy ${d.name}; undefine ${d.name}`]).catch(() => undefined);
}
const vseq: number[] = [];
for (let i = 0; i < N; i++) {
  const d = await prepare(i);
  vseq.push(await virshOne(d));
  await virshCleanup(d);
}

/** Waits (at most 120 s) until libvirt has none of these domains left. */
async function gone(names: string[]) {
  const end = performance.now() + 120_000;
  while (performance.now() < end) {
    const { stdout } = await run('virsh', ['-q', '-c', 'qemu:///system', 'list', '--all', '--name']);
    const left = new Set(stdout.split('\n').map((l) => l.trim()));
    if (!names.some((n) => left.has(n))) return;
    await new Promise((res) => setTimeout(res, 200));
  }
}

const perfLine = (xs: { comm: string; pct: number }[]) =>
  xs
    .slice(0, 12)
    .map((x) => `${x.comm} ${x.pct}%`)
    .join(', ');
const concMs: number[] = [];
const batchCpu = { controller: 0, agent: 0, bench: 0 };
const vconc: number[] = [];
for (let round = 0; round < 2; round++) {
  const domains = await Promise.all(Array.from({ length: N }, (_, i) => prepare(100 * (round + 1) + i)));
  const pv = perfStart(`virsh-${round}`);
  vconc.push(...(await Promise.all(domains.map(virshOne))));
  if (pv) console.log(`  perf virsh batch ${round}: ${perfLine(await pv.stop())}`);
  await Promise.all(domains.map(virshCleanup));
  await gone(domains.map((d) => d.name));
  const ps = perfStart(`stratus-${round}`);
  const cpu0 = daemonsCpu();
  const conc = await Promise.all(Array.from({ length: N }, (_, i) => launchOne(`conc-${round}-${i}`)));
  const cpu1 = daemonsCpu();
  batchCpu.controller += cpu1.controller - cpu0.controller;
  batchCpu.agent += cpu1.agent - cpu0.agent;
  batchCpu.bench += cpu1.bench - cpu0.bench;
  if (ps) console.log(`  perf Stratus batch ${round}: ${perfLine(await ps.stop())}`);
  concMs.push(...conc.map((r) => r.ms));
  await deleteAll(conc.map((r) => r.id));
  await gone(conc.map((r) => `stratus-${r.id}`));
}
rmSync(dir, { recursive: true, force: true });
await c.cleanup();

const overhead = pct(seq, 0.5) - pct(vseq, 0.5);
const ratio = pct(seq, 0.5) / pct(vseq, 0.5);
const concurrentRatio = pct(concMs, 0.5) / pct(vconc, 0.5);
console.log(
  `launch: API -> running with a cached image, ${N} sequential and 2 x ${N} concurrent (TCG guests, t1.micro)`,
);
console.log(`  Stratus sequential : ${fmt(seq)}`);
console.log(`  virsh   sequential : ${fmt(vseq)}   (define + start, same XML)`);
console.log(`  Stratus concurrent : ${fmt(concMs)}`);
console.log(`  virsh   concurrent : ${fmt(vconc)}`);
console.log(`  overhead p50 ${overhead.toFixed(0)} ms (target <= 150), ratio ${ratio.toFixed(2)} (target <= 1.25)`);
console.log(`  concurrent ratio ${concurrentRatio.toFixed(2)} (target <= 1.25)`);
const perLaunch = (s: number) => Math.round((s * 1000) / (2 * N));
console.log(
  `  CPU per concurrent launch: controller ${perLaunch(batchCpu.controller)} ms, agent ${perLaunch(batchCpu.agent)} ms (with their helpers and tools); this bench (its watcher and requests) ${perLaunch(batchCpu.bench)} ms`,
);
console.log(
  JSON.stringify({
    bench: 'launch',
    p50_ms: Math.round(pct(seq, 0.5)),
    p99_ms: Math.round(pct(seq, 0.99)),
    baseline_p50_ms: Math.round(pct(vseq, 0.5)),
    concurrent_p50_ms: Math.round(pct(concMs, 0.5)),
    concurrent_p99_ms: Math.round(pct(concMs, 0.99)),
    baseline_concurrent_p50_ms: Math.round(pct(vconc, 0.5)),
    overhead_ms: Math.round(overhead),
    ratio: Number(ratio.toFixed(3)),
    concurrent_ratio: Number(concurrentRatio.toFixed(3)),
    controller_cpu_ms_per_launch: perLaunch(batchCpu.controller),
    agent_cpu_ms_per_launch: perLaunch(batchCpu.agent),
    bench_cpu_ms_per_launch: perLaunch(batchCpu.bench),
    target: { overhead_ms: 150, ratio: 1.25, concurrent_ratio: 1.25 },
  }),
);
process.exit(0);
