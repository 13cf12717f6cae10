// Issue 13's first finding, tested as an outsider would try it, with mosquitto_pub and mosquitto_sub:
// on the embedded broker (the default installation) and on mosquitto with the generated files, a
// client without credentials, or with another host's credentials, can neither command a host nor read
// its replies; with [mqtt] allow_anonymous, an anonymous client reads telemetry and nothing else.
import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { MqttAccounts } from '../../../controller/mqtt/accounts.ts';
import { writeMosquittoFiles } from '../../../controller/mqtt/mosquitto-files.ts';
import { ControllerDb } from '../../../controller/db.ts';
import { topics } from '../../../protocol/mqtt/index.ts';
import { startMosquitto } from '../../helpers/mosquitto.ts';
import { mosquittoPub, mosquittoSub } from '../../helpers/mosquitto-clients.ts';
import { recorder, startController } from '../../helpers/mqtt.ts';

type Creds = { username: string; password: string };

async function outsiders(t: Test, url: string, a: Creds, b: Creds, ctl: Creds) {
  const hostA = await recorder(url, [topics.cmdPrefix('hv-a') + '/#'], { ...a, clientId: `a-${Math.random()}` });
  const controller = await recorder(url, ['stratus/v1/hosts/#'], { ...ctl, clientId: `ctl-${Math.random()}` });
  t.teardown(() => Promise.all([hostA.end(), controller.end()]).then(() => undefined));
  const stop = JSON.stringify({ v: 1, ts: Date.now(), id: 'x', key: 'k', command: 'stop', args: { vm: 'v' } });

  // no credentials: refused at CONNECT, for publishing and for reading
  const anonPub = await mosquittoPub(url, {}, topics.command('hv-a', 'stop'), stop);
  t.not(anonPub.code, 0, 'mosquitto_pub without credentials fails');
  t.match(anonPub.stderr, /not authori[sz]ed|refused/i);
  const anonSub = await mosquittoSub(url, {}, 'stratus/v1/#', 2);
  t.not(anonSub.code, 0, 'mosquitto_sub without credentials fails');
  t.equal(anonSub.stdout, '', 'and reads nothing');

  // host B's credentials: it may connect, but its command to A and its reading of A's replies go nowhere
  const bPub = await mosquittoPub(url, b, topics.command('hv-a', 'stop'), 'forged-by-b');
  t.equal(bPub.code, 0, 'the broker acknowledges (and drops) the publish, as mosquitto does');
  const bSub = mosquittoSub(url, b, 'stratus/v1/hosts/hv-a/replies/#', 3);
  const bSubAll = mosquittoSub(url, b, 'stratus/v1/#', 3);
  await new Promise((r) => setTimeout(r, 1000)); // both subscribers connected
  await hostA.client.publishAsync(topics.reply('hv-a', 'r-1'), 'reply-of-a', { qos: 1 });
  await controller.waitFor("the controller gets A's reply", (m) => m.payload.toString() === 'reply-of-a');
  await controller.client.publishAsync(topics.command('hv-a', 'start'), 'genuine', { qos: 1 });
  await hostA.waitFor('A gets the genuine command', (m) => m.payload.toString() === 'genuine');
  t.notOk(
    hostA.messages.some((m) => m.payload.toString() === 'forged-by-b'),
    "host B's command never reached A",
  );
  t.notMatch((await bSub).stdout, /reply-of-a/, "host B cannot read A's replies");
  t.notMatch((await bSubAll).stdout, /reply-of-a|genuine/, "nor A's commands through a wider filter");
}

t.test('embedded broker (default configuration): outsiders cannot command or read', async (t) => {
  const c = await startController();
  t.teardown(() => c.cleanup());
  await outsiders(t, c.mqttUrl, c.account('hv-a'), c.account('hv-b'), c.observer());
});

t.test('mosquitto with the generated files: outsiders cannot command or read', async (t) => {
  const dir = t.testdir();
  const db = new ControllerDb(`${dir}/controller.db`);
  const accounts = new MqttAccounts(db.db);
  const a = accounts.add('hv-a', 'host');
  const b = accounts.add('hv-b', 'host');
  const ctl = accounts.add('ctl', 'controller');
  const files = writeMosquittoFiles(accounts, `${dir}/mosquitto`);
  db.close();
  t.match(readFileSync(files.conf, 'utf8'), /allow_anonymous false/);
  const broker = await startMosquitto({ authConf: readFileSync(files.conf, 'utf8') });
  t.teardown(() => broker.cleanup());
  await outsiders(t, broker.url, a, b, ctl);
});

t.test('allow_anonymous: clients without credentials read telemetry, never replies, events or commands', async (t) => {
  const c = await startController({ STRATUS_CONTROLLER_MQTT_ALLOW_ANONYMOUS: 'true' });
  t.teardown(() => c.cleanup());
  const host = await recorder(c.mqttUrl, [], { ...c.account('hv-t'), clientId: 'hv-t' });
  t.teardown(() => host.end());
  const all = mosquittoSub(c.mqttUrl, {}, 'stratus/v1/hosts/+/+', 3);
  const status = mosquittoSub(c.mqttUrl, {}, 'stratus/v1/hosts/+/status', 3);
  await new Promise((r) => setTimeout(r, 1000));
  await host.client.publishAsync(topics.hostStatus('hv-t'), 'status-of-t', { qos: 1 });
  await host.client.publishAsync(topics.hostEvents('hv-t'), 'event-of-t', { qos: 1 });
  await host.client.publishAsync(topics.reply('hv-t', 'r'), 'reply-of-t', { qos: 1 });
  t.match((await status).stdout, /status-of-t/, 'telemetry is readable');
  t.notMatch((await all).stdout, /event-of-t|reply-of-t/, 'a wide filter is refused: no events, no replies');
  const pub = await mosquittoPub(c.mqttUrl, {}, topics.command('hv-t', 'stop'), 'anon-cmd');
  t.equal(pub.code, 0, 'acknowledged and dropped');
  t.ok(c.logs().some((l) => l.msg === 'MQTT publish denied' && l.topic === topics.command('hv-t', 'stop')));
});
