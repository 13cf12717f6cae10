// The dashboard in headless Chromium (Debian's, driven by playwright-core): without a token it asks to
// log in (config.json is 401); with one it connects over MQTT/WebSocket with the short-lived read-only
// account the controller issues, shows the host and a VM of a real agent, and follows the VM stopping
// without a reload. The screenshot is kept under test/artifacts/.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import t from 'tap';
import { startAgent } from '../../helpers/agent-process.ts';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import { recorder, startController } from '../../helpers/mqtt.ts';
import { waitFor } from '../../helpers/wait.ts';

const HOST = 'test-host';
const artifacts = new URL('../../artifacts/', import.meta.url).pathname;

t.test('the dashboard shows a host and a VM and updates live when the VM stops', async (t) => {
  const c = await startController();
  t.teardown(() => c.cleanup());
  const { password } = c.daemon.accounts.add(HOST, 'host');
  const agent = await startAgent({
    extraToml: `[mqtt]\nurl = "${c.mqttUrl}"\nusername = "${HOST}"\npassword = "${password}"\nmetrics_interval_s = 1\n`,
  });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  await waitFor('host up at the controller', () => c.daemon.fleet.host(HOST)?.up);
  // the VM is launched through the controller (a domain it has no record of would be removed)
  const cli = c.cli;
  await uploadTestGuest(c);
  const created = await cli(['vm', 'create', 'dash-vm', '--type', 'm1.small', '--image', 'guest', '--wait', '--json']);
  t.equal(created.code, 0, `vm create: ${created.stderr}`);
  const spec = { id: JSON.parse(created.stdout).items[0].id as string };
  t.teardown(() => cli(['vm', 'delete', spec.id]).then(() => undefined));
  await waitFor('VM known to the controller', () => c.daemon.fleet.store.vm(spec.id)?.state === 'running');

  const profile = mkdtempSync(join(tmpdir(), 'stratus-chromium-'));
  t.teardown(() => rmSync(profile, { recursive: true, force: true }));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 800 },
  });
  t.teardown(() => browser.close());
  const page = browser.pages()[0] ?? (await browser.newPage());
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  const anonymous = await fetch(`${c.apiUrl}/dashboard/config.json`);
  t.equal(anonymous.status, 401, 'config.json without a token: 401');
  t.equal((await fetch(`${c.apiUrl}/dashboard/events.json`)).status, 401, 'events.json without a token: 401');
  await page.goto(`${c.apiUrl}/dashboard/`);
  await page.waitForSelector('#login:not([hidden])', { timeout: 20_000 });
  t.equal(await page.textContent('[data-testid="connection"]'), 'log in', 'without a token the page asks for one');
  await page.fill('#login input[name="token"]', c.adminToken);
  await page.click('#login button[type="submit"]');

  await page.waitForSelector(`#hosts tr[data-host="${HOST}"][data-state="online"]`, { timeout: 20_000 });
  const vmRow = `#vms tr[data-vm="${spec.id}"]`;
  await page.waitForSelector(`${vmRow}[data-state="running"]`, { timeout: 20_000 });
  t.equal(await page.textContent(`${vmRow} td:nth-child(2)`), 'dash-vm');
  t.equal(await page.textContent(`${vmRow} td:nth-child(3)`), HOST);
  t.equal(await page.textContent('[data-testid="connection"]'), 'live');
  // small live charts: the host CPU sparkline gets points as metrics arrive
  await page.waitForFunction(
    `(document.querySelector('tr[data-host="${HOST}"] svg polyline')?.getAttribute('points') ?? '').split(' ').length >= 2`,
    undefined,
    { timeout: 20_000 },
  );
  const navigations: string[] = [];
  page.on('framenavigated', (f) => navigations.push(f.url()));

  t.equal((await agent.request('POST', `/v1/vms/${spec.id}/stop`, { force: true })).status, 200);
  await page.waitForSelector(`${vmRow}[data-state="shutoff"]`, { timeout: 10_000 });
  t.same(navigations, [], 'updated without a reload');
  t.match(await page.textContent('[data-testid="events"]'), /is shutoff/);
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });
  t.same(problems, [], 'no script errors on the page');

  // The dashboard's account is read-only. An observer with the controller's rights sees everything under
  // stratus/v1/; the page publishes a well-formed "offline" status for the host (which would mark it down
  // if it got through), then the observer publishes a marker: the broker routes in order, so the forged
  // message, had it been let through, would reach the observer before its own marker.
  const observerAccount = c.daemon.accounts.add('dash-observer', 'controller');
  const observer = await recorder(c.mqttUrl, ['stratus/v1/#'], {
    username: observerAccount.username,
    password: observerAccount.password,
  });
  t.teardown(() => observer.end());
  const forged = JSON.stringify({
    v: 1,
    ts: Date.now(),
    host: HOST,
    session: 2 ** 31,
    seq: 1,
    state: 'offline',
    reason: 'shutdown',
    agentVersion: 'forged',
    keepaliveS: 10,
    metricsIntervalS: 10,
  });
  const acked = await page.evaluate(`new Promise((resolve) =>
    window.stratusDashboard.client.publish('stratus/v1/hosts/${HOST}/status', ${JSON.stringify(forged)}, { qos: 1 },
      (err) => resolve(err ? String(err) : 'acked')))`);
  t.equal(acked, 'acked', 'the broker acknowledges the publish (and drops it, as mosquitto does)');
  const granted = await page.evaluate(`new Promise((resolve) =>
    window.stratusDashboard.client.subscribe('stratus/v1/cmd/#', { qos: 1 }, (err) => resolve(err ? 'refused: ' + err.message : 'granted')))`);
  t.match(granted, /^refused: /, 'subscribing to commands is refused');
  await observer.client.publishAsync('stratus/v1/cmd/dash-marker/noop', 'marker', { qos: 1 });
  await observer.waitFor('the marker', (m) => m.topic === 'stratus/v1/cmd/dash-marker/noop');
  t.notOk(
    observer.messages.some((m) => m.payload.toString() === forged),
    'the forged status reached no subscriber',
  );
  t.equal(c.daemon.fleet.host(HOST)?.up, true, 'the host is still up');
  t.ok(
    c
      .logs()
      .some(
        (l) =>
          l.msg === 'MQTT publish denied' &&
          String(l.user).startsWith('dash-') &&
          l.topic === `stratus/v1/hosts/${HOST}/status`,
      ),
    'the denial is logged with the account and topic',
  );
  t.equal(await page.textContent('[data-testid="connection"]'), 'live', 'the page stays connected');
  t.equal(
    await page.evaluate('sessionStorage.getItem("stratus-token")'),
    c.adminToken,
    'the token is kept in sessionStorage (this tab only)',
  );
});
