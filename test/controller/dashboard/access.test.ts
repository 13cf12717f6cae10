// Who may read the fleet over HTTP: /dashboard/config.json, its history and events need a bearer token
// (401 without), and hand each user a short-lived read-only broker account of its own; /metrics needs
// an admin token or the [metrics] token of a Prometheus scraper.
import mqtt from 'mqtt';
import t from 'tap';
import { httpRequest } from '../../helpers/http-client.ts';
import { startController } from '../../helpers/mqtt.ts';

t.test('dashboard settings and data need a token; each login gets its own short-lived broker account', async (t) => {
  const c = await startController({ STRATUS_CONTROLLER_MQTT_DASHBOARD_TTL_S: '60' });
  t.teardown(() => c.cleanup());
  for (const p of ['/dashboard/config.json', '/dashboard/events.json', '/dashboard/history.json?host=h']) {
    const r = await httpRequest(`${c.apiUrl}${p}`, 'GET');
    t.equal(r.status, 401, `${p} without a token`);
    t.equal(r.body.code, 'STRATUS_ERR_UNAUTHORIZED');
  }
  t.equal((await httpRequest(`${c.apiUrl}/dashboard/`, 'GET')).status, 200, 'the page itself is public');
  const auth = { authorization: `Bearer ${c.adminToken}` };
  const a = await httpRequest(`${c.apiUrl}/dashboard/config.json`, 'GET', undefined, auth);
  const b = await httpRequest(`${c.apiUrl}/dashboard/config.json`, 'GET', undefined, auth);
  t.equal(a.status, 200);
  t.not(a.body.username, b.body.username, 'one account per request');
  t.ok(a.body.expiresAt > Date.now() && a.body.expiresAt <= Date.now() + 60_000, 'expires within the ttl');
  t.notOk(
    a.body.filters.some((f: string) => /replies|cmd|#/.test(f)),
    'no filter covers commands or replies',
  );
  const client = await mqtt.connectAsync(c.mqttUrl, {
    protocolVersion: 4,
    username: a.body.username,
    password: a.body.password,
    reconnectPeriod: 0,
  });
  await client.subscribeAsync(a.body.filters);
  await client.endAsync(true);
  t.pass('the issued account connects and subscribes to its filters');
  // expired: the account stops working (the broker also ends its sessions)
  const expired = c.daemon.access.temporary.issue('x', -1);
  await t.rejects(
    mqtt.connectAsync(c.mqttUrl, { protocolVersion: 4, ...expired, reconnectPeriod: 0 }),
    'an expired account is refused',
  );
});

t.test('/metrics needs an admin token or the [metrics] token', async (t) => {
  const scrape = 'prometheus-scrape-token-0123456789';
  const c = await startController({ STRATUS_CONTROLLER_METRICS_TOKEN: scrape });
  t.teardown(() => c.cleanup());
  const get = (token?: string) =>
    httpRequest(`${c.apiUrl}/metrics`, 'GET', undefined, token ? { authorization: `Bearer ${token}` } : {});
  t.equal((await get()).status, 401, 'anonymous');
  t.equal((await get('wrong')).status, 401, 'a wrong token');
  const user = await httpRequest(
    `${c.apiUrl}/v1/users`,
    'POST',
    { name: 'alice', role: 'user' },
    { authorization: `Bearer ${c.adminToken}` },
  );
  t.equal((await get(user.body.token)).status, 401, 'a user token');
  const m = await get(scrape);
  t.equal(m.status, 200, 'the scrape token');
  t.match(String(m.body), /stratus_controller/);
  t.equal((await get(c.adminToken)).status, 200, 'an admin token');
});
