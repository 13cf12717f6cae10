// The controller's ingest against the embedded broker, fed by a simulated host speaking the protocol.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { topics } from '../../../protocol/mqtt/index.ts';
import { freePort } from '../../helpers/agent-process.ts';
import { httpRequest } from '../../helpers/http-client.ts';
import { recorder, startController } from '../../helpers/mqtt.ts';
import { SimHost } from '../../helpers/sim-host.ts';
import { waitFor } from '../../helpers/wait.ts';

t.test('malformed payloads are dropped with a logged reason, counted, and nothing crashes', async (t) => {
  const c = await startController({ STRATUS_CONTROLLER_MQTT_MAX_PAYLOAD_BYTES: '2048' });
  t.teardown(() => c.cleanup());
  const h = new SimHost(`bad-${randomUUID().slice(0, 8)}`);
  await h.connect(c.mqttUrl, c.account(h.id));
  t.teardown(() => h.client!.endAsync(true));
  await h.publish(topics.hostStatus(h.id), '{"v":1, oops');
  await h.publish(topics.hostMetrics(h.id), { ...h.metrics(), v: 2 });
  await h.publish(topics.hostEvents(h.id), { ...h.event('agent.warning', 'x'.repeat(3000)) });
  await h.publish(topics.hostEvents(h.id), { ...h.event('agent.warning', 'spoofed'), host: 'someone-else' });
  await h.publish(topics.vmState(h.id, randomUUID()), { v: 1, ts: 0 });
  await h.publish(topics.hostStatus(h.id), h.status('online'), { retain: true });
  await waitFor('the valid status after the bad ones', () => c.daemon.fleet.host(h.id)?.up);
  const drops = c.logs().filter((l) => l.msg === 'MQTT message dropped');
  t.same(
    drops.map((l) => l.reason),
    ['bad-json', 'bad-version', 'oversized', 'bad-topic', 'bad-schema'],
    'each drop logged with its reason',
  );
  t.ok(
    drops.every((l) => typeof l.err === 'string' && l.err.length > 0),
    'and a readable message',
  );
  const metrics = await (
    await fetch(`${c.apiUrl}/metrics`, { headers: { authorization: `Bearer ${c.adminToken}` } })
  ).text();
  t.match(metrics, /stratus_controller_mqtt_dropped_total\{reason="bad-json"\} 1/);
  t.match(metrics, /stratus_controller_mqtt_dropped_total\{reason="oversized"\} 1/);
  t.equal((await fetch(`${c.apiUrl}/v1/health`)).status, 200, 'the controller is still healthy');
});

t.test(
  'a Last Will of an older session never marks a reconnected host offline; the current one marks it down',
  async (t) => {
    const c = await startController();
    t.teardown(() => c.cleanup());
    const id = `lwt-${randomUUID().slice(0, 8)}`;
    const old = new SimHost(id, 4);
    const cur = new SimHost(id, 5);
    await cur.connect(c.mqttUrl, { ...c.account(id), clientId: `pub-${id}` });
    t.teardown(() => cur.client!.endAsync(true));
    cur.seq = 100;
    await cur.publish(topics.hostStatus(id), cur.status('online'), { retain: true });
    await cur.publish(topics.hostInfo(id), cur.info(['a'.repeat(64)]), { retain: true });
    // both retained messages applied (each emits a 'host' event) before the events are counted
    await waitFor('online with its information', () => {
      const h = c.daemon.fleet.host(id);
      return h?.up === true && h.cachedImages.length === 1;
    });
    const changes: boolean[] = [];
    c.daemon.fleet.on('host', (h) => h.id === id && changes.push(h.up));
    // the Will of session 4 arrives late (a half-open connection timing out after the reconnect)
    await cur.publish(topics.hostStatus(id), old.status('offline', 'last-will'), { retain: true });
    await cur.publish(topics.hostEvents(id), cur.event('marker', 'after the stale will'));
    await waitFor('marker', () => c.daemon.fleet.store.events(id).length === 1);
    t.equal(c.daemon.fleet.host(id)?.up, true, 'still up');
    t.ok(c.logs().some((l) => l.msg === 'stale Last Will ignored' && l.session === 4));
    const fh = c.daemon.fleet.host(id)!;
    t.same(
      { cpus: fh.cpus, memoryMiB: fh.memoryMiB, arch: fh.arch, cachedImages: fh.cachedImages },
      { cpus: 64, memoryMiB: 262144, arch: 'x86_64', cachedImages: ['a'.repeat(64)] },
      'the Fleet port shows capacity and cached images from the host information',
    );
    // now the Will of the current session
    await cur.publish(topics.hostStatus(id), cur.status('offline', 'last-will'), { retain: true });
    await waitFor('down', () => c.daemon.fleet.store.host(id)?.state === 'down');
    t.same(changes, [false], "one 'host' event: it went down");
    const metrics = await (
      await fetch(`${c.apiUrl}/metrics`, { headers: { authorization: `Bearer ${c.adminToken}` } })
    ).text();
    t.match(metrics, new RegExp(`stratus_host_up\\{host="${id}"\\} 0`));
  },
);

t.test(
  'events are applied once per (host, seq) in arrival order; VM state follows seq; deletion clears it',
  async (t) => {
    const c = await startController();
    t.teardown(() => c.cleanup());
    const h = new SimHost(`ev-${randomUUID().slice(0, 8)}`);
    await h.connect(c.mqttUrl, c.account(h.id));
    t.teardown(() => h.client!.endAsync(true));
    await h.publish(topics.hostStatus(h.id), h.status('online'), { retain: true });
    const evs = [1, 2, 3, 4, 5].map((i) => h.event('vm.state', `event ${i}`));
    for (const e of evs) await h.publish(topics.hostEvents(h.id), e);
    for (const e of evs.slice(2)) await h.publish(topics.hostEvents(h.id), e); // replayed after a reconnect
    const more = h.event('vm.state', 'event 6');
    await h.publish(topics.hostEvents(h.id), more);
    await waitFor('six events', () => c.daemon.fleet.store.events(h.id).length === 6);
    const stored = c.daemon.fleet.store.events(h.id).reverse();
    t.same(
      stored.map((e) => e.message),
      [1, 2, 3, 4, 5, 6].map((i) => `event ${i}`),
      'in order, no duplicates',
    );
    const vm = randomUUID();
    const s2 = h.vmState(vm, 'web', 'running');
    const s1 = { ...s2, seq: s2.seq - 100, state: 'shutoff' };
    await h.publish(topics.vmState(h.id, vm), s2, { retain: true });
    await h.publish(topics.vmState(h.id, vm), s1, { retain: true }); // older, delivered late
    await h.publish(topics.hostEvents(h.id), h.event('marker', 'm'));
    await waitFor('marker', () => c.daemon.fleet.store.events(h.id).length === 7);
    t.equal(c.daemon.fleet.store.vm(vm)?.state, 'running', 'an older state never overwrites a newer one');
    const gone = new Promise((r) => c.daemon.fleet.once('vm-state', r));
    await h.publish(topics.vmState(h.id, vm), '', { retain: true });
    t.same(await gone, { host: h.id, vm, state: 'deleted' });
    t.equal(c.daemon.fleet.store.vm(vm), undefined);
  },
);

t.test('metrics history is written, downsampled into buckets and bounded in time', async (t) => {
  const c = await startController();
  t.teardown(() => c.cleanup());
  const store = c.daemon.fleet.store;
  const now = Date.now();
  const h = new SimHost('hist');
  store.addMetrics(
    Array.from({ length: 120 }, (_, i) => ({
      host: h.id,
      vm: '',
      ts: now - (120 - i) * 60_000, // one point a minute for two hours
      cpuPct: i % 2 ? 10 : 30,
      memBytes: 1,
      rxBps: 0,
      txBps: 0,
    })),
  );
  store.compact(now, 30 * 60_000, 600, 90 * 60_000); // raw 30 min, 10 min buckets, keep 90 min
  const pts = store.history(h.id, '', 0);
  const raw = pts.filter((p) => p.res === 0);
  const buckets = pts.filter((p) => p.res === 600);
  t.ok(
    raw.every((p) => p.ts >= now - 40 * 60_000),
    'raw points only for the recent past',
  );
  t.ok(buckets.length >= 5 && buckets.length <= 7, `ten-minute buckets from 90 to 30 min ago (${buckets.length})`);
  t.ok(
    buckets.every((p) => p.ts >= now - 90 * 60_000 && Math.abs(p.cpuPct - 20) < 0.01),
    'averaged, old ones gone',
  );
});

t.test(
  'samples are averaged over a history step: the open step is shown, and written when the next begins',
  async (t) => {
    const c = await startController({ STRATUS_CONTROLLER_METRICS_HISTORY_STEP_S: '3600' });
    t.teardown(() => c.cleanup());
    const h = new SimHost(`step-${randomUUID().slice(0, 8)}`);
    await h.connect(c.mqttUrl, c.account(h.id));
    t.teardown(() => h.client!.endAsync(true));
    await h.publish(topics.hostStatus(h.id), h.status('online'), { retain: true });
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    for (const [ts, cpu] of [
      [hour + 1000, 10],
      [hour + 2000, 30],
    ] as const) {
      await h.publish(topics.hostMetrics(h.id), { ...h.metrics(cpu), ts });
    }
    const history = async () =>
      (
        await httpRequest(`${c.apiUrl}/dashboard/history.json?host=${h.id}&minutes=1440`, 'GET', undefined, {
          authorization: `Bearer ${c.adminToken}`,
        })
      ).body.points as { ts: number; cpuPct: number }[];
    await waitFor('the open step averaged', async () => (await history()).at(-1)?.cpuPct === 20);
    t.same(c.daemon.fleet.store.history(h.id, '', 0), [], 'not written while its step is open');
    await h.publish(topics.hostMetrics(h.id), { ...h.metrics(50), ts: hour + 3_600_000 });
    await waitFor('the closed step written', () => c.daemon.fleet.store.history(h.id, '', 0).length === 1);
    t.match(c.daemon.fleet.store.history(h.id, '', 0)[0], { ts: hour, res: 0, cpuPct: 20 });
    t.same(
      (await history()).map((p) => [p.ts, p.cpuPct]),
      [
        [hour, 20],
        [hour + 3_600_000, 50],
      ],
      'the written point, then the open step',
    );
  },
);

t.test(
  'information that arrives before the first status is kept; WebSocket listeners carry the same traffic',
  async (t) => {
    const wsPort = await freePort();
    const c = await startController({ STRATUS_CONTROLLER_MQTT_WS_LISTEN: `127.0.0.1:${wsPort}` });
    t.teardown(() => c.cleanup());
    const h = new SimHost(`ws-${randomUUID().slice(0, 8)}`);
    await h.connect(`ws://127.0.0.1:${wsPort}`, c.account(h.id)); // the dedicated WebSocket listener
    t.teardown(() => h.client!.endAsync(true));
    await h.publish(topics.hostInfo(h.id), h.info(['b'.repeat(64)]), { retain: true });
    await h.publish(topics.hostStatus(h.id), h.status('online'), { retain: true });
    await waitFor('host up', () => c.daemon.fleet.host(h.id)?.up);
    t.same(c.daemon.fleet.host(h.id)?.cachedImages, ['b'.repeat(64)], 'the early information was applied');
    // the dashboard's endpoint: /mqtt on the API port
    const dash = await recorder(
      `${c.apiUrl.replace('http', 'ws')}/mqtt`,
      [topics.hostStatus(h.id)],
      c.account(`dash-${h.id}`, 'dashboard'),
    );
    t.teardown(() => dash.end());
    const st = await dash.waitFor('retained status over /mqtt', (m) => m.topic === topics.hostStatus(h.id));
    t.equal(st.json.state, 'online');
  },
);
