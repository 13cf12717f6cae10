// bench/fleet-sim: 1,000 simulated hosts with 20 VMs each publish the real protocol every 10 s
// (host metrics, one VM metrics batch, and a few VM state changes and events) to a controller with
// its embedded broker, in its own process. Measures the controller's ingest lag p99 (agent
// timestamp → applied) and its CPU. Baseline in the same run: the same load on a bare aedes broker
// whose only subscriber JSON.parses each message (the floor any ingest costs).
// Host-down detection, near the end of the controller's window: one more host (its own process, the
// agent's keepalive) is frozen with SIGSTOP, its connection open and silent, and one host of the fleet
// has its socket destroyed; the time until GET /v1/hosts/{id} answers up: false for each.
// Every host connects with the agent's default MQTT keepalive ([mqtt] keepalive_s, 10 s).
//   npm run bench -- fleet-sim [--hosts 1000] [--vms 20] [--interval 10] [--duration 60] [--warmup 20] [--keepalive 10]
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ControllerDb } from '../controller/db.ts';
import { MqttAccounts } from '../controller/mqtt/accounts.ts';
import { topics } from '../protocol/mqtt/index.ts';
import { freePort } from '../test/helpers/agent-process.ts';
import { SimHost } from '../test/helpers/sim-host.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { cpuSeconds } from './_proc.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '1000' },
    vms: { type: 'string', default: '20' },
    interval: { type: 'string', default: '10' },
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '20' },
    keepalive: { type: 'string', default: '10' },
  },
});
const HOSTS = Number(values.hosts);
const VMS = Number(values.vms);
const INTERVAL_MS = Number(values.interval) * 1000;
const DURATION_MS = Number(values.duration) * 1000;
const WARMUP_MS = Number(values.warmup) * 1000;
const root = new URL('..', import.meta.url).pathname;
const KEEPALIVE_S = Number(values.keepalive);
const METRICS_TOKEN = randomUUID();
const ADMIN_TOKEN = `st_bench_${randomUUID().replaceAll('-', '')}`;
const PROBE_ID = 'controller-probe';

/** Each simulated host has its own broker account (made in the controller database before it starts). */
const benchPassword = (host: string) => `bench-${host}`;

interface Sim {
  host: SimHost;
  vms: { id: string; name: string; state: string }[];
  round: number;
  /** Its socket was destroyed by the down probe: it publishes no more. */
  dead?: boolean;
}

/** Publishes the simulator could not make (a client closed under it); reported, never thrown. */
let simErrors = 0;
const counted = (p: Promise<unknown>) => void p.catch(() => simErrors++);

async function connectFleet(url: string, prefix: string): Promise<Sim[]> {
  const sims: Sim[] = [];
  for (let i = 0; i < HOSTS; i += 50) {
    const batch = Array.from({ length: Math.min(50, HOSTS - i) }, (_, k) => {
      const host = new SimHost(`${prefix}-${String(i + k).padStart(5, '0')}`);
      const vms = Array.from({ length: VMS }, (_, j) => ({ id: randomUUID(), name: `vm-${j}`, state: 'running' }));
      return { host, vms, round: 0 };
    });
    await Promise.all(
      batch.map((s) =>
        s.host.connect(url, { keepalive: KEEPALIVE_S, username: s.host.id, password: benchPassword(s.host.id) }),
      ),
    );
    for (const s of batch) {
      await s.host.publish(topics.hostStatus(s.host.id), s.host.status('online'), { retain: true });
      await s.host.publish(topics.hostInfo(s.host.id), s.host.info(), { retain: true });
      for (const v of s.vms)
        await s.host.publish(topics.vmState(s.host.id, v.id), s.host.vmState(v.id, v.name, v.state), { retain: true });
    }
    sims.push(...batch);
  }
  return sims;
}

/** Every host publishes once per interval, spread evenly over it. */
function drive(sims: Sim[]): () => void {
  const timers: NodeJS.Timeout[] = [];
  sims.forEach((s, i) => {
    const tick = () => {
      const h = s.host;
      if (s.dead) return;
      s.round++;
      counted(h.publish(topics.hostMetrics(h.id), h.metrics(10 + (i % 70)), { qos: 0 }));
      counted(h.publish(topics.vmMetrics(h.id), h.vmMetrics(s.vms, s.round), { qos: 0 }));
      if ((i + s.round) % 20 === 0) {
        const v = s.vms[s.round % s.vms.length]!;
        v.state = v.state === 'running' ? 'paused' : 'running';
        counted(h.publish(topics.vmState(h.id, v.id), h.vmState(v.id, v.name, v.state), { retain: true }));
        counted(h.publish(topics.hostEvents(h.id), h.event('vm.state', `VM ${v.name} is ${v.state}`)));
      }
    };
    timers.push(
      setTimeout(
        () => {
          tick();
          timers.push(setInterval(tick, INTERVAL_MS));
        },
        (i * INTERVAL_MS) / sims.length,
      ),
    );
  });
  return () => {
    for (const t of timers) clearTimeout(t);
  };
}

interface Down {
  /** The frozen probe host (keepalive path), ms from SIGSTOP to up: false; NaN: not seen down. */
  silentMs: number;
  /** The fleet host whose socket was destroyed (Last Will at once), ms; NaN: not seen down. */
  closedMs: number;
}

/** ms until `id` is answered down by the REST API (polled every 100 ms), NaN after `limitMs`. */
async function downAfter(api: string, id: string, t0: number, limitMs: number): Promise<number> {
  while (Date.now() - t0 < limitMs) {
    const r = await fetch(`${api}/v1/hosts/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    if (r.ok && ((await r.json()) as { up: boolean }).up === false) return Date.now() - t0;
    await new Promise((res) => setTimeout(res, 100));
  }
  return Number.NaN;
}

/** Freezes the probe host and kills one fleet host's socket; the time until each is reported down. */
async function probeDown(api: string, probe: ChildProcess, victim: Sim): Promise<Down> {
  const limitMs = 3 * KEEPALIVE_S * 1000;
  const t0 = Date.now();
  probe.kill('SIGSTOP');
  const silent = downAfter(api, PROBE_ID, t0, limitMs);
  const t1 = Date.now();
  victim.dead = true;
  victim.host.client?.stream.destroy();
  const closed = downAfter(api, victim.host.id, t1, limitMs);
  const down = { silentMs: await silent, closedMs: await closed };
  probe.kill('SIGKILL');
  return down;
}

async function measure(
  label: string,
  proc: ChildProcess,
  url: string,
  lagP99: () => Promise<number>,
  down?: (sims: Sim[]) => Promise<Down>,
): Promise<{ cpuPct: number; lagP99Ms: number; simCpuPct: number; down?: Down }> {
  const t0 = Date.now();
  const sims = await connectFleet(url, label);
  process.stdout.write(`${label}: ${HOSTS} hosts connected in ${Date.now() - t0} ms\n`);
  const stop = drive(sims);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  await lagP99(); // resets the baseline's window
  const c0 = cpuSeconds(proc.pid!);
  const s0 = process.cpuUsage();
  const w0 = Date.now();
  const lags: number[] = [];
  // the down probe starts so that 1.5 × keepalive and 5 s of slack end with the window
  let probing: Promise<Down> | undefined;
  const probeAt = Math.max(0, DURATION_MS - 1.5 * KEEPALIVE_S * 1000 - 5000);
  const probeTimer = down && setTimeout(() => (probing = down(sims)), probeAt);
  while (Date.now() - w0 < DURATION_MS) {
    await new Promise((r) => setTimeout(r, INTERVAL_MS));
    lags.push(await lagP99());
  }
  clearTimeout(probeTimer);
  const downs = await probing;
  const wall = (Date.now() - w0) / 1000;
  const cpuPct = ((cpuSeconds(proc.pid!) - c0) / wall) * 100;
  const s = process.cpuUsage(s0);
  const simCpuPct = ((s.user + s.system) / 1e6 / wall) * 100;
  stop();
  const lagP99Ms = Math.max(...lags);
  process.stdout.write(
    `${label}: CPU ${cpuPct.toFixed(1)} % of one core, ingest lag p99 ${lagP99Ms.toFixed(0)} ms (per interval: ${lags.map((l) => l.toFixed(0)).join(', ')}); simulator CPU ${simCpuPct.toFixed(0)} %\n`,
  );
  if (downs)
    process.stdout.write(
      `${label}: host down reported ${downs.silentMs} ms after it froze (keepalive ${KEEPALIVE_S} s: ` +
        `limit ${1.5 * KEEPALIVE_S * 1000} ms), ${downs.closedMs} ms after its socket was destroyed\n`,
    );
  // forced: a clean end of a client whose socket the down probe destroyed never resolves
  await Promise.all(sims.map((x) => (x.dead ? undefined : x.host.client?.endAsync(true))));
  return { cpuPct, lagP99Ms, simCpuPct, ...(downs ? { down: downs } : {}) };
}

const perRound = HOSTS * 2 + HOSTS / 10;
process.stdout.write(
  `fleet-sim: ${HOSTS} hosts × ${VMS} VMs every ${INTERVAL_MS / 1000} s ≈ ${((perRound * 1000) / INTERVAL_MS).toFixed(0)} msg/s; ` +
    `${cpus().length} × ${cpus()[0]?.model}\n`,
);

// baseline: bare broker + JSON.parse subscriber
const floor = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/_fleet-floor.ts')], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const floorLines = createInterface({ input: floor.stdout! });
const floorQueue: string[] = [];
floorLines.on('line', (l) => floorQueue.push(l));
const next = () => waitFor('baseline output', () => floorQueue.shift(), 30_000, 10);
const { port: floorPort } = JSON.parse(await next()) as { port: number };
const base = await measure('baseline', floor, `mqtt://127.0.0.1:${floorPort}`, async () => {
  floor.stdin!.write('report\n');
  return (JSON.parse(await next()) as { p99: number }).p99;
});
floor.kill();

// the controller
const dir = mkdtempSync(join(tmpdir(), 'stratus-fleet-sim-'));
const mqttPort = await freePort();
const apiPort = await freePort();
writeFileSync(
  join(dir, 'controller.toml'),
  `[controller]\nstate_dir = "${dir}/state"\n[mqtt]\nlisten = "127.0.0.1:${mqttPort}"\n[api]\nlisten = "127.0.0.1:${apiPort}"\nadmin_token = "${ADMIN_TOKEN}"\n` +
    `[metrics]\ntoken = "${METRICS_TOKEN}"\n[log]\nlevel = "warn"\n`,
);
{
  mkdirSync(join(dir, 'state'), { recursive: true });
  const db = ControllerDb.inStateDir(join(dir, 'state'));
  const accounts = new MqttAccounts(db.db);
  for (let i = 0; i < HOSTS; i++) {
    const id = `controller-${String(i).padStart(5, '0')}`;
    accounts.add(id, 'host', benchPassword(id));
  }
  accounts.add(PROBE_ID, 'host', benchPassword(PROBE_ID));
  db.close();
}
// e.g. STRATUS_BENCH_CONTROLLER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (not allowed in NODE_OPTIONS)
const controllerNodeArgs = (process.env.STRATUS_BENCH_CONTROLLER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const scrape = { headers: { authorization: `Bearer ${METRICS_TOKEN}` } };
const ctl = spawn(
  process.execPath,
  [...controllerNodeArgs, join(root, 'bin/stratus-controller.js'), '--config', join(dir, 'controller.toml')],
  {
    stdio: ['ignore', 'inherit', 'inherit'],
  },
);
await waitFor('controller', async () => (await fetch(`http://127.0.0.1:${apiPort}/v1/health`)).ok, 30_000, 100);
const gauge = async () => {
  const text = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`, scrape)).text();
  const m = /^stratus_controller_ingest_lag_p99_seconds (\S+)$/m.exec(text);
  const ms = (name: string) =>
    Math.round(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN) * 1000);
  loopWindows.push(
    `${ms('stratus_controller_event_loop_delay_p99_seconds')}/${ms('stratus_controller_event_loop_delay_max_seconds')}/${ms('stratus_controller_gc_pause_max_seconds')}`,
  );
  return m ? Number(m[1]) * 1000 : Number.NaN;
};
/** Per scrape: the controller's event loop delay p99 / max and longest GC pause (ms) of its last 10 s. */
const loopWindows: string[] = [];
const api = `http://127.0.0.1:${apiPort}`;
// the probe host, in its own process so that SIGSTOP freezes it with its connection open
const probe = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    join(root, 'bench/_fleet-probe.ts'),
    `mqtt://127.0.0.1:${mqttPort}`,
    PROBE_ID,
    benchPassword(PROBE_ID),
    String(KEEPALIVE_S),
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const probeLines: string[] = [];
createInterface({ input: probe.stdout! }).on('line', (l) => probeLines.push(l));
await waitFor('probe host', () => probeLines.includes('ready'), 30_000, 50);
await waitFor(
  'probe host up',
  async () => {
    const r = await fetch(`${api}/v1/hosts/${PROBE_ID}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return r.ok && ((await r.json()) as { up: boolean }).up === true;
  },
  30_000,
  100,
);
const res = await measure('controller', ctl, `mqtt://127.0.0.1:${mqttPort}`, gauge, (sims) =>
  probeDown(api, probe, sims[0]!),
);
probe.kill('SIGKILL');
const alive = ctl.exitCode === null && ctl.signalCode === null;
const metrics = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`, scrape)).text();
const dropped = [...metrics.matchAll(/stratus_controller_mqtt_dropped_total\{[^}]*\} (\d+)/g)].reduce(
  (a, m) => a + Number(m[1]),
  0,
);
process.stdout.write(
  `controller: event loop delay p99/max, longest GC pause per 10 s (ms): ${loopWindows.join(', ')}\n`,
);
process.stdout.write(
  `controller: ${dropped} messages dropped, ${alive ? 'alive' : 'DEAD'}; simulator publish errors ${simErrors}\n`,
);
ctl.kill('SIGTERM');
await new Promise((r) => ctl.once('exit', r));
rmSync(dir, { recursive: true, force: true });

process.stdout.write(
  `${JSON.stringify({
    bench: 'fleet-sim',
    hosts: HOSTS,
    vms_per_host: VMS,
    interval_s: INTERVAL_MS / 1000,
    lag_p99_ms: Math.round(res.lagP99Ms),
    cpu_pct: Math.round(res.cpuPct * 10) / 10,
    baseline_lag_p99_ms: Math.round(base.lagP99Ms),
    baseline_cpu_pct: Math.round(base.cpuPct * 10) / 10,
    ratio: Math.round((res.cpuPct / base.cpuPct) * 100) / 100,
    dropped,
    controller_alive: alive,
    keepalive_s: KEEPALIVE_S,
    down_detect_ms: res.down?.silentMs ?? null,
    down_detect_closed_ms: res.down?.closedMs ?? null,
    sim_errors: simErrors,
    target: {
      lag_p99_ms: 1000,
      cpu_pct: HOSTS >= 10_000 ? 100 : 50,
      dropped: 0,
      down_detect_ms: 1.5 * KEEPALIVE_S * 1000,
    },
  })}\n`,
);
process.exit(0);
