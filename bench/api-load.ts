// bench/api-load: the REST API under concurrent clients, on loopback only. A controller in its own
// process, with 10,000 simulated hosts in its database (a few of them online over MQTT, answering
// deploys at once) and VMs created by many users at the same time, then read by many clients listing
// and showing VMs. Baseline in the same run: GET /v1/health (no database, no authentication) at the
// same concurrency, the floor of this HTTP stack on this machine. Every loop is bounded in count and time.
//   npm run bench -- api-load [--vms 1000] [--creators 50] [--readers 200] [--hosts 10000] [--seconds 20]
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ControllerDb } from '../controller/db.ts';
import { FleetStore } from '../controller/fleet/store.ts';
import { MqttAccounts } from '../controller/mqtt/accounts.ts';
import { topics } from '../protocol/mqtt/index.ts';
import { ADMIN_TOKEN, startController } from '../test/helpers/controller-process.ts';
import { SimHost } from '../test/helpers/sim-host.ts';
import { waitFor } from '../test/helpers/wait.ts';

const { values } = parseArgs({
  options: {
    vms: { type: 'string', default: '1000' },
    creators: { type: 'string', default: '50' },
    readers: { type: 'string', default: '200' },
    hosts: { type: 'string', default: '10000' },
    online: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '20' },
  },
});
const VMS = Number(values.vms);
const CREATORS = Number(values.creators);
const READERS = Number(values.readers);
const HOSTS = Number(values.hosts);
const ONLINE = Number(values.online);
const SECONDS = Number(values.seconds);

const agent = new Agent({ keepAlive: true, maxSockets: Math.max(READERS, CREATORS) + 8 });

/**
 * One request. A request sent on a kept-alive socket that the server closed meanwhile (its idle
 * timeout) fails with ECONNRESET before the server saw it: sent again once, as Node's documentation
 * advises (req.reusedSocket), so that the race of idle timeouts is not counted as an API failure.
 */
async function call(base: string, method: string, path: string, token?: string, body?: unknown, parse = true) {
  try {
    return await callOnce(base, method, path, token, body, parse);
  } catch (err) {
    if ((err as { reusedSocket?: boolean }).reusedSocket && (err as { code?: string }).code === 'ECONNRESET')
      return callOnce(base, method, path, token, body, parse);
    throw err;
  }
}

/**
 * `parse` false: the body is read to its last byte and dropped, as load generators (wrk, autocannon) do.
 * Parsing 1 MB lists in this one client process for 200 clients took the CPU the measured latencies were
 * made of (the server was half idle).
 */
function callOnce(base: string, method: string, path: string, token?: string, body?: unknown, parse = true) {
  return new Promise<{ status: number; body: any; ms: number }>((resolve, reject) => {
    const t0 = performance.now();
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      `${base}${path}`,
      {
        method,
        agent,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
        },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => {
          if (parse) chunks.push(c);
        });
        res.on('end', () => {
          const text = parse ? Buffer.concat(chunks).toString() : '';
          resolve({
            status: res.statusCode ?? 0,
            body: text ? JSON.parse(text) : undefined,
            ms: performance.now() - t0,
          });
        });
      },
    );
    req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.end(data);
  });
}

const p = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : 0;
};

/** `clients` loops calling `one` until `seconds` pass (or `maxCalls` in all); their latencies. */
async function load(clients: number, seconds: number, one: (client: number) => Promise<number>, maxCalls = 2_000_000) {
  const until = performance.now() + seconds * 1000;
  const ms: number[] = [];
  let calls = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      while (performance.now() < until && calls++ < maxCalls) ms.push(await one(c));
    }),
  );
  return ms;
}

const benchPassword = (host: string) => `bench-${host}`;

// 1. a database with HOSTS hosts (as a site that knew them); ONLINE of them come up over MQTT below
const dir = mkdtempSync(join(tmpdir(), 'stratus-api-load-'));
mkdirSync(join(dir, 'state'), { recursive: true });
{
  const db = ControllerDb.inStateDir(join(dir, 'state'));
  const store = new FleetStore(db.db);
  const accounts = new MqttAccounts(db.db);
  // the online ones have their own broker accounts, as enrolled hosts do
  for (let i = 0; i < ONLINE; i++) {
    const id = `hv-${String(i).padStart(5, '0')}`;
    accounts.add(id, 'host', benchPassword(id));
  }
  db.db.transaction(() => {
    for (let i = 0; i < HOSTS; i++) {
      const h = new SimHost(`hv-${String(i).padStart(5, '0')}`);
      store.setStatus({ ...h.status('offline', 'shutdown'), v: 1 }, 'offline');
      store.setInfo({ ...h.info(), v: 1 });
    }
  })();
  db.close();
}
const c = await startController({ dir, extraToml: '[network]\ndefault_network = ""\n', logLevel: 'info' });
const hosts: SimHost[] = [];
try {
  // 2. online hosts that answer every deploy at once
  for (let i = 0; i < ONLINE; i++) {
    const h = new SimHost(`hv-${String(i).padStart(5, '0')}`, 2);
    const client = await h.connect(c.mqttUrl, { username: h.id, password: benchPassword(h.id) });
    client.on('message', (_t, payload) => {
      const cmd = JSON.parse(payload.toString());
      const result = cmd.command === 'deploy' ? { ...cmd.args.spec, state: 'running' } : {};
      // a reply cut by the end of the run must not end the process before its figures or error
      h.publish(topics.reply(h.id, cmd.id), {
        ...h.env(),
        id: cmd.id,
        key: cmd.key,
        command: cmd.command,
        type: 'result',
        ok: true,
        result,
      }).catch(() => undefined);
    });
    await client.subscribeAsync(topics.command(h.id, '+'), { qos: 1 });
    await h.publish(topics.hostStatus(h.id), h.status('online'), { retain: true });
    await h.publish(topics.hostInfo(h.id), h.info(), { retain: true });
    hosts.push(h);
  }
  await waitFor(
    'online hosts',
    async () => {
      const r = await call(c.url, 'GET', '/v1/hosts', ADMIN_TOKEN);
      return r.body.items.filter((x: { up: boolean }) => x.up).length >= ONLINE;
    },
    60_000,
  );
  const sha = randomBytes(32).toString('hex');
  const img = await call(c.url, 'POST', '/v1/images', ADMIN_TOKEN, {
    name: 'bench',
    url: 'http://127.0.0.1:9/bench.qcow2',
    sha256: sha,
    format: 'qcow2',
    visibility: 'public',
  });
  if (img.status >= 300) throw new Error(`image: ${img.status} ${JSON.stringify(img.body)}`);
  const tokens: string[] = [];
  for (let u = 0; u < CREATORS; u++) {
    const r = await call(c.url, 'POST', '/v1/users', ADMIN_TOKEN, {
      name: `user${u}`,
      quota: { vms: VMS, vcpus: VMS * 4, memoryMiB: VMS * 4096 },
    });
    tokens.push(r.body.token);
  }

  // 3. creation: CREATORS clients create VMS VMs between them. Each client opens its connection first
  // (timed apart, as wrk and autocannon connect before they measure): a busy Node server admits one new
  // connection per turn of its event loop (libuv >= 1.45 accepts once per wakeup), so a burst of new
  // connections waits as many turns; the creations are measured on connections already open.
  const connectMs = (
    await Promise.all(tokens.map(async () => (await call(c.url, 'GET', '/v1/health', undefined, undefined, false)).ms))
  ).sort((a, b) => a - b);
  const perClient = Math.ceil(VMS / CREATORS);
  const createMs: number[] = [];
  const createAt: { at: number; ms: number }[] = [];
  const createStart = performance.now();
  let failed = 0;
  await Promise.all(
    tokens.map(async (token, u) => {
      for (let i = 0; i < perClient && u * perClient + i < VMS; i++) {
        const r = await call(c.url, 'POST', '/v1/vms', token, {
          name: `u${u}-vm${i}`,
          type: 't1.micro',
          image: 'bench',
        });
        createMs.push(r.ms);
        createAt.push({ at: performance.now() - r.ms - createStart, ms: r.ms });
        if (r.status !== 202) failed++;
      }
    }),
  );
  const t0 = performance.now();
  let scheduled = 0;
  await waitFor(
    'every VM scheduled',
    async () => {
      const r = await call(c.url, 'GET', '/v1/vms', ADMIN_TOKEN);
      scheduled = r.body.items.filter((v: { host: string | null }) => v.host !== null).length;
      return scheduled >= VMS - failed;
    },
    300_000,
    500,
  ).catch(() => undefined);
  const scheduleMs = performance.now() - t0;
  // reads are measured in a steady state: every deploy answered (context CD-ROMs built, states written)
  await waitFor(
    'every VM running',
    async () => {
      const r = await call(c.url, 'GET', '/v1/vms', ADMIN_TOKEN);
      return r.body.items.filter((v: { state: string }) => v.state === 'running').length >= scheduled;
    },
    300_000,
    500,
  ).catch(() => undefined);
  const ids = (await call(c.url, 'GET', '/v1/vms', ADMIN_TOKEN)).body.items.map(
    (v: { id: string; owner: string }) => v,
  );

  // 4. reads: READERS clients list their VMs and show one, as their users; one in ten lists all as admin
  // the readers' connections are opened first, as the creators' were
  await Promise.all(
    Array.from({ length: READERS }, () => call(c.url, 'GET', '/v1/health', undefined, undefined, false)),
  );
  const byOwner = new Map<string, string[]>();
  for (const v of ids) byOwner.set(v.owner, [...(byOwner.get(v.owner) ?? []), v.id]);
  const baseline = await load(
    READERS,
    SECONDS / 2,
    async () => (await call(c.url, 'GET', '/v1/health', undefined, undefined, false)).ms,
  );
  let readErrors = 0;
  const reads = await load(READERS, SECONDS, async (client) => {
    const u = client % CREATORS;
    const token = client % 10 === 0 ? ADMIN_TOKEN : tokens[u]!;
    const mine = byOwner.get(`user${u}`) ?? [];
    const r =
      client % 2 === 0 || mine.length === 0
        ? await call(c.url, 'GET', '/v1/vms', token, undefined, false)
        : await call(c.url, 'GET', `/v1/vms/${mine[Math.floor(Math.random() * mine.length)]}`, token, undefined, false);
    if (r.status !== 200) readErrors++;
    return r.ms;
  });
  console.log(
    `created ${createMs.length} VMs (${failed} refused) by ${CREATORS} clients: p50 ${p(createMs, 0.5).toFixed(0)} ms, p99 ${p(createMs, 0.99).toFixed(0)} ms`,
  );
  const slowest = createAt.sort((a, b) => b.ms - a.ms).slice(0, 10);
  console.log(
    `slowest creates (sent at +s: ms): ${slowest.map((x) => `+${(x.at / 1000).toFixed(1)}: ${x.ms.toFixed(0)}`).join(', ')}`,
  );
  console.log(
    `${CREATORS} connections opened at once (GET /v1/health): p50 ${p(connectMs, 0.5).toFixed(0)} ms, max ${connectMs.at(-1)!.toFixed(0)} ms`,
  );
  console.log(`scheduled ${scheduled}/${VMS} in ${(scheduleMs / 1000).toFixed(1)} s after the last create`);
  console.log(
    `reads by ${READERS} clients: ${reads.length} in ${SECONDS} s, p50 ${p(reads, 0.5).toFixed(0)} ms, p99 ${p(reads, 0.99).toFixed(0)} ms, ${readErrors} errors`,
  );
  console.log(
    `baseline GET /v1/health by ${READERS} clients: p50 ${p(baseline, 0.5).toFixed(0)} ms, p99 ${p(baseline, 0.99).toFixed(0)} ms`,
  );
  console.log(
    JSON.stringify({
      bench: 'api-load',
      hosts: HOSTS,
      vms: VMS,
      readers: READERS,
      creators: CREATORS,
      read_p99_ms: Math.round(p(reads, 0.99)),
      read_p50_ms: Math.round(p(reads, 0.5)),
      reads_per_s: Math.round(reads.length / SECONDS),
      read_errors: readErrors,
      create_p99_ms: Math.round(p(createMs, 0.99)),
      create_p50_ms: Math.round(p(createMs, 0.5)),
      connect_max_ms: Math.round(connectMs.at(-1)!),
      create_refused: failed,
      scheduled,
      baseline_p99_ms: Math.round(p(baseline, 0.99)),
      ratio: Number((p(reads, 0.99) / Math.max(1, p(baseline, 0.99))).toFixed(2)),
      target: { read_p99_ms: 200, create_p99_ms: 500 },
    }),
  );
} catch (err) {
  // the controller's last words say why a request failed
  process.stderr.write(
    `api-load failed: ${(err as Error).message}\ncontroller output (tail):\n${c.output().slice(-6000)}\n`,
  );
  process.exitCode = 1;
} finally {
  for (const h of hosts) await h.client?.endAsync(true).catch(() => undefined);
  agent.destroy();
  await c.cleanup();
}
