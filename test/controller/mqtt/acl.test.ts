// Broker access control, with the generated mosquitto ACL and password file on a real mosquitto, and
// with the same rules enforced by the embedded broker: hosts stay in their own prefix, dashboards read
// telemetry and events but never commands or replies, clients without credentials are refused.
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import t, { type Test } from 'tap';
import { MqttAccounts } from '../../../controller/mqtt/accounts.ts';
import { readFilters } from '../../../controller/mqtt/acl.ts';
import { writeMosquittoFiles } from '../../../controller/mqtt/mosquitto-files.ts';
import { ControllerDb } from '../../../controller/db.ts';
import { topics } from '../../../protocol/mqtt/index.ts';
import { startMosquitto } from '../../helpers/mosquitto.ts';
import { recorder, startController } from '../../helpers/mqtt.ts';

type Creds = Record<'host-a' | 'host-b' | 'dash' | 'ctl', string>;

function accountsFor(accounts: MqttAccounts): Creds {
  return {
    'host-a': accounts.add('host-a', 'host').password,
    'host-b': accounts.add('host-b', 'host').password,
    dash: accounts.add('dash', 'dashboard').password,
    ctl: accounts.add('ctl', 'controller').password,
  };
}

async function checkRules(t: Test, url: string, pw: Creds, ctlAuth: { username: string; password: string }) {
  const as = (u: keyof Creds) => ({ username: u, password: pw[u], clientId: `${u}-${Math.random()}` });
  const ctl = await recorder(url, ['stratus/v1/#'], { ...ctlAuth, clientId: `ctl-${Math.random()}` });
  const a = await recorder(url, [], as('host-a'));
  const b = await recorder(url, [topics.cmdPrefix('host-b') + '/#'], as('host-b'));
  const dash = await recorder(url, readFilters('dashboard'), as('dash'));
  t.teardown(() => Promise.all([ctl.end(), a.end(), b.end(), dash.end()]).then(() => undefined));

  // host A tries to listen to B's commands; then a command for A arrives after one for B
  await a.client
    .subscribeAsync([topics.cmdPrefix('host-b') + '/#', topics.cmdPrefix('host-a') + '/#'], { qos: 1 })
    .catch(() => undefined);
  await ctl.client.publishAsync(topics.command('host-b', 'deploy'), 'for-b', { qos: 1 });
  await ctl.client.publishAsync(topics.command('host-a', 'deploy'), 'for-a', { qos: 1 });
  await a.waitFor('A receives its own command', (m) => m.payload.toString() === 'for-a');
  await b.waitFor('B receives its own command', (m) => m.payload.toString() === 'for-b');
  t.notOk(
    a.messages.some((m) => m.payload.toString() === 'for-b'),
    "host A cannot read host B's commands",
  );

  // host A publishes under B's prefix, then under its own: only the latter arrives
  await a.client.publishAsync(topics.hostStatus('host-b'), 'spoof', { qos: 1 }).catch(() => undefined);
  await a.client.publishAsync(topics.hostStatus('host-a'), 'genuine', { qos: 1 });
  await ctl.waitFor("A's own status", (m) => m.payload.toString() === 'genuine');
  await dash.waitFor('the dashboard reads host statuses', (m) => m.payload.toString() === 'genuine');
  t.notOk(
    ctl.messages.some((m) => m.payload.toString() === 'spoof'),
    'host A cannot publish under host B',
  );

  // A may not issue commands either (only the controller writes stratus/v1/cmd/)
  await a.client.publishAsync(topics.command('host-b', 'delete'), 'forged', { qos: 1 }).catch(() => undefined);
  // the dashboard may not publish anything
  await dash.client.publishAsync(topics.hostStatus('host-a'), 'from-dash', { qos: 1 }).catch(() => undefined);
  await dash.client.publishAsync(topics.command('host-b', 'delete'), 'dash-cmd', { qos: 1 }).catch(() => undefined);
  await a.client.publishAsync(topics.hostEvents('host-a'), 'marker', { qos: 1 });
  await ctl.waitFor('marker', (m) => m.payload.toString() === 'marker');
  t.notOk(
    b.messages.some((m) => ['forged', 'dash-cmd'].includes(m.payload.toString())),
    'no forged command reached B',
  );
  t.notOk(
    ctl.messages.some((m) => m.payload.toString() === 'from-dash'),
    'a dashboard user cannot publish',
  );

  // a dashboard cannot widen its subscription to commands or replies (the embedded broker refuses the
  // filter; mosquitto grants it and filters each message by the ACL): nothing of them reaches it
  await dash.client
    .subscribeAsync(['stratus/v1/#', 'stratus/v1/hosts/+/replies/+', 'stratus/v1/cmd/#'], { qos: 1 })
    .catch(() => undefined);
  await ctl.client.publishAsync(topics.command('host-a', 'stop'), 'cmd-for-a', { qos: 1 });
  await a.client.publishAsync(topics.reply('host-a', 'r-1'), 'secret-reply', { qos: 1 });
  await ctl.waitFor('the controller reads the reply', (m) => m.payload.toString() === 'secret-reply');
  await a.client.publishAsync(topics.hostEvents('host-a'), 'marker-2', { qos: 1 });
  await dash.waitFor('the dashboard reads events', (m) => m.payload.toString() === 'marker-2');
  t.notOk(
    dash.messages.some((m) => ['secret-reply', 'cmd-for-a'].includes(m.payload.toString())),
    'the dashboard never sees a command or a reply',
  );

  // a wrong password is refused, and so is a client without credentials
  await t.rejects(
    mqtt.connectAsync(url, { protocolVersion: 4, username: 'host-a', password: 'wrong', reconnectPeriod: 0 }),
    'wrong password refused',
  );
  await t.rejects(mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 }), 'anonymous client refused');
}

t.test(
  'mosquitto with the generated ACL and password file enforces the host, dashboard and controller roles',
  async (t) => {
    const dir = t.testdir();
    const db = new ControllerDb(`${dir}/controller.db`);
    const accounts = new MqttAccounts(db.db);
    const pw = accountsFor(accounts);
    const files = writeMosquittoFiles(accounts, `${dir}/mosquitto`);
    db.close();
    t.match(readFileSync(files.acl, 'utf8'), /user host-a\ntopic write stratus\/v1\/hosts\/host-a\/#/);
    const broker = await startMosquitto({ authConf: readFileSync(files.conf, 'utf8') });
    t.teardown(() => broker.cleanup());
    await checkRules(t, broker.url, pw, { username: 'ctl', password: pw.ctl });
  },
);

t.test('the embedded broker enforces the same rules with the same accounts (by default)', async (t) => {
  const c = await startController();
  t.teardown(() => c.cleanup());
  const pw = accountsFor(c.daemon.accounts);
  await checkRules(t, c.mqttUrl, pw, { username: 'ctl', password: pw.ctl });
  t.ok(
    c.logs().some((l) => l.msg === 'MQTT publish denied' && l.user === 'host-a'),
    'denials are logged',
  );
});
