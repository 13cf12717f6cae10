// A real agent (real libvirtd, TCG test guest) talking MQTT to a controller with the embedded broker:
// VM state changes, metrics at the configured interval, commands run once per key, SIGKILL detection.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { topics } from '../../../protocol/mqtt/index.ts';
import { type AgentHandle, startAgent } from '../../helpers/agent-process.ts';
import { BOOT_LINE, guestSpec } from '../../helpers/guest.ts';
import { virsh } from '../../helpers/libvirtd.ts';
import { type ControllerHandle, type Received, type Recorder, recorder, startController } from '../../helpers/mqtt.ts';
import { waitFor } from '../../helpers/wait.ts';

const HOST = 'test-host';
const KEEPALIVE_S = 2;
const INTERVAL_S = 2;
let c: ControllerHandle;
let agent: AgentHandle;
let rec: Recorder;
const created: string[] = [];

t.before(async () => {
  c = await startController();
  rec = await recorder(c.mqttUrl, [`${topics.hostPrefix(HOST)}/#`], c.observer());
  const host = c.account(HOST);
  agent = await startAgent({
    resyncS: 300, // state changes seen within a second came from libvirt events
    extraToml: `[mqtt]\nurl = "${c.mqttUrl}"\nusername = "${host.username}"\npassword = "${host.password}"\nkeepalive_s = ${KEEPALIVE_S}\nmetrics_interval_s = ${INTERVAL_S}\nreconnect_max_s = 1\n`,
  });
  await agent.waitReady();
  await waitFor('host online at the controller', () => c.daemon.fleet.host(HOST)?.up, 20_000);
});

t.teardown(async () => {
  for (const id of created) await agent.request('DELETE', `/v1/vms/${id}`).catch(() => undefined);
  await rec.end();
  await agent.cleanup();
  await c.cleanup();
});

t.test('host status, information and metrics arrive; metrics every metrics_interval_s', async (t) => {
  const status = await rec.waitFor(
    'online status',
    (m) => m.topic === topics.hostStatus(HOST) && m.json?.state === 'online',
  );
  t.ok(status.retain || status.json.session >= 1, 'retained online status with a session counter');
  const info = await rec.waitFor('info', (m) => m.topic === topics.hostInfo(HOST));
  t.match(info.json.hypervisor, { virtType: 'qemu', libvirt: /^\d+\.\d+\.\d+$/ });
  t.ok(info.json.cpu.logical >= 1 && info.json.memoryBytes > 0);
  await waitFor(
    'five metrics messages',
    () => rec.messages.filter((m) => m.topic === topics.hostMetrics(HOST)).length >= 5,
    30_000,
  );
  const ts = rec.messages.filter((m) => m.topic === topics.hostMetrics(HOST)).map((m) => m.json.ts as number);
  const gaps = ts
    .slice(1)
    .map((x, i) => x - ts[i]!)
    .sort((a, b) => a - b);
  const median = gaps[Math.floor(gaps.length / 2)]!;
  // sampling instants follow the timer; one tick may be skipped when the host is too busy to sample
  t.ok(Math.abs(median - INTERVAL_S * 1000) < 200, `median gap ${median} ms for a ${INTERVAL_S} s interval (${gaps})`);
  const m = rec.messages.find((x) => x.topic === topics.hostMetrics(HOST))!.json;
  t.ok(m.memory.totalBytes > 0 && m.cpu.logical >= 1 && m.uptimeS > 0);
});

t.test('a VM state change reaches a subscriber in under a second, with an event on the host stream', async (t) => {
  const spec = guestSpec({ name: 'mqtt-state' });
  created.push(spec.id);
  t.equal((await agent.request('POST', '/v1/vms', { spec })).status, 201);
  await rec.waitFor('running', (m) => m.topic === topics.vmState(HOST, spec.id) && m.json?.state === 'running');
  // let the TCG boot finish first: it takes both CPUs for a few seconds
  await waitFor(
    'guest booted',
    async () => String((await agent.request('GET', `/v1/vms/${spec.id}/console`)).body).includes(BOOT_LINE),
    60_000,
    200,
  );
  const dom = `stratus-${spec.id}`;
  for (const [cmd, state] of [
    ['suspend', 'paused'],
    ['resume', 'running'],
  ] as const) {
    const before = rec.messages.length;
    virsh(cmd, dom); // behind the agent's back: only a libvirt event can tell it
    const done = Date.now();
    const msg = await rec.waitFor(
      `${state} state`,
      (m) => rec.messages.indexOf(m) >= before && m.topic === topics.vmState(HOST, spec.id) && m.json?.state === state,
      5000,
    );
    t.ok(msg.at - done < 1000, `virsh ${cmd} → "${state}" on MQTT after ${msg.at - done} ms`);
    t.ok(msg.retain === false || msg.json.seq > 0);
  }
  const ev = await rec.waitFor(
    'vm.state event',
    (m) => m.topic === topics.hostEvents(HOST) && m.json?.kind === 'vm.state' && m.json.data?.to === 'paused',
  );
  t.equal(ev.json.vm, spec.id);
  await waitFor('controller VM state', () => c.daemon.fleet.store.vm(spec.id)?.state === 'running');
  await waitFor('VM metrics batch with the VM', () =>
    rec.messages.find(
      (m) => m.topic === topics.vmMetrics(HOST) && m.json.vms.some((v: { vm: string }) => v.vm === spec.id),
    ),
  );
  const prom = await waitFor('Prometheus series for the VM', async () => {
    const res = await fetch(`${c.apiUrl}/metrics`, { headers: { authorization: `Bearer ${c.adminToken}` } });
    const text = await res.text();
    // a batch sampled while the guest was paused may come first (stats do not wait for a domain's job)
    return text.includes(`uuid="${spec.id}"`) && /libvirt_domain_info_vstate\{[^}]*\} 1/.test(text) ? text : undefined;
  });
  t.match(
    prom,
    new RegExp(
      `libvirt_domain_info_cpu_time_seconds_total\\{domain="${dom}",uuid="${spec.id}",host="${HOST}"\\} [0-9.]+`,
    ),
  );
  t.match(prom, /libvirt_domain_info_vstate\{[^}]*\} 1/);
});

t.test('a deploy command delivered three times with one idempotency key runs once', async (t) => {
  const spec = guestSpec({ name: 'mqtt-once' });
  created.push(spec.id);
  const key = `deploy-${spec.id}`;
  const cmd = (id: string) =>
    JSON.stringify({ v: 1, ts: Date.now(), id, key, command: 'deploy', args: { spec }, deadline: Date.now() + 60_000 });
  for (const id of ['d1', 'd2', 'd3'])
    await rec.client.publishAsync(topics.command(HOST, 'deploy'), cmd(id), { qos: 1 });
  await waitFor(
    'three answers',
    () =>
      ['d1', 'd2', 'd3'].every((id) =>
        rec.messages.some(
          (m) =>
            m.topic === topics.reply(HOST, id) &&
            (m.json.type === 'result' || m.json.progress?.step === 'already running'),
        ),
      ),
    30_000,
  );
  const results = rec.messages.filter(
    (m) => m.topic.startsWith(`${topics.hostPrefix(HOST)}/replies/d`) && m.json.type === 'result',
  );
  const fresh = results.filter((m) => !m.json.replayed);
  t.equal(fresh.length, 1, 'one delivery ran it');
  t.equal(fresh[0]!.json.ok, true, JSON.stringify(fresh[0]!.json.error));
  t.equal(fresh[0]!.json.result.id, spec.id);
  t.ok(
    results.filter((m) => m.json.replayed).every((m) => m.json.ok && m.json.result.id === spec.id),
    'repeats answered with the recorded result',
  );
  t.equal(
    agent
      .output()
      .split('\n')
      .filter((l) => l.includes('"VM created"') && l.includes(spec.id)).length,
    1,
    'created once',
  );
  // the same key once more, later: still not run again
  await rec.client.publishAsync(topics.command(HOST, 'deploy'), cmd('d4'), { qos: 1 });
  const again = await rec.waitFor('d4 result', (m) => m.topic === topics.reply(HOST, 'd4') && m.json.type === 'result');
  t.equal(again.json.replayed, true);
});

t.test('the controller dispatch API deploys, stops and deletes through the agent, with progress', async (t) => {
  const spec = guestSpec({ name: 'mqtt-dispatch' });
  created.push(spec.id);
  const progress: unknown[] = [];
  const view = await c.daemon.agents.dispatch(
    HOST,
    'deploy',
    { spec, start: true },
    { key: `k-${randomUUID()}`, timeoutMs: 60_000, onProgress: (p) => progress.push(p) },
  );
  t.equal(view.state, 'running');
  t.same(progress[0], { step: 'creating', pct: 10 });
  const stopped = await c.daemon.agents.dispatch(
    HOST,
    'stop',
    { vm: spec.id, force: true },
    { key: `k-${randomUUID()}` },
  );
  t.equal(stopped.state, 'shutoff');
  const err = await c.daemon.agents
    .dispatch(HOST, 'suspend', { vm: spec.id }, { key: `k-${randomUUID()}` })
    .catch((e: Error) => e);
  t.match(
    err,
    { code: 'STRATUS_ERR_CONFLICT', status: 409, details: { state: 'shutoff', host: HOST } },
    'the agent’s typed error comes back',
  );
  t.same(await c.daemon.agents.dispatch(HOST, 'delete', { vm: spec.id }, { key: `k-${randomUUID()}` }), {
    deleted: spec.id,
  });
  await rec.waitFor(
    'retained state cleared',
    (m) => m.topic === topics.vmState(HOST, spec.id) && m.payload.length === 0,
  );
  await waitFor('controller forgot the VM', () => c.daemon.fleet.store.vm(spec.id) === undefined);
});

t.test(
  'an agent killed with SIGKILL shows offline within 1.5 × keepalive; its return wins over the late Will',
  async (t) => {
    const downs: number[] = [];
    c.daemon.fleet.on('host', (h) => h.id === HOST && !h.up && downs.push(Date.now()));
    const killedAt = Date.now();
    await agent.kill('SIGKILL');
    await waitFor('host down', () => downs.length > 0, 10_000, 20);
    const took = downs[0]! - killedAt;
    t.ok(took <= 1.5 * KEEPALIVE_S * 1000 + 250, `down after ${took} ms (keepalive ${KEEPALIVE_S} s)`);
    // the controller reads the broker in-process: it may see the Will before this outside subscriber does
    const will = await rec
      .waitFor('the Last Will', (m) => m.topic === topics.hostStatus(HOST) && m.json?.reason === 'last-will', 5_000)
      .catch(() => undefined);
    t.ok(will, 'the Last Will was published');
    agent = await agent.restart();
    await agent.waitReady();
    await waitFor('online again', () => c.daemon.fleet.host(HOST)?.up, 20_000);
    // the controller reads the broker in-process, so this outside subscriber may get the new "online" later
    const online = await rec
      .waitFor(
        'online with a newer session',
        (m) => m.topic === topics.hostStatus(HOST) && m.json?.state === 'online' && m.json.session > will!.json.session,
        10_000,
      )
      .catch(() => undefined);
    t.ok(online, 'the new session counter is higher than the Will’s');
  },
);

t.test('a frozen agent (SIGSTOP: connection open, no keepalive) is marked down within 1.5 × keepalive', async (t) => {
  const downs: number[] = [];
  c.daemon.fleet.on('host', (h) => h.id === HOST && !h.up && downs.push(Date.now()));
  const stoppedAt = Date.now();
  agent.proc.kill('SIGSTOP');
  t.teardown(() => agent.proc.kill('SIGCONT'));
  await waitFor('host down', () => downs.length > 0, 10_000, 20);
  const took = downs[0]! - stoppedAt;
  t.ok(
    took <= 1.5 * KEEPALIVE_S * 1000 + 500,
    `down after ${took} ms (keepalive ${KEEPALIVE_S} s; the last ping may precede the stop)`,
  );
  agent.proc.kill('SIGCONT');
  await waitFor('online again', () => c.daemon.fleet.host(HOST)?.up, 20_000);
  const mine = (m: Received) => m.topic === topics.hostStatus(HOST) && m.at >= stoppedAt;
  const will = await rec.waitFor('the Last Will', (m) => mine(m) && m.json?.reason === 'last-will', 10_000);
  // as above: the outside subscriber may see the new "online" after the controller does
  const online = await rec
    .waitFor('online again', (m) => mine(m) && m.json?.state === 'online' && m.json.session > will.json.session, 10_000)
    .catch(() => undefined);
  t.ok(online, 'reconnected with a newer session than the Will');
  t.equal(c.daemon.fleet.host(HOST)?.up, true, 'and the host stays up');
});
