// Host enrolment: `stratus host add` gives a one-time join token that expires, `stratus-agent join`
// redeems it for the host's own broker account and the site CA (stored 0600), a second use or another
// host's id is refused, and `stratus host revoke` ends the host's sessions and the broker refuses it.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t from 'tap';
import { ControllerDb } from '../../../controller/db.ts';
import { MqttAccounts } from '../../../controller/mqtt/accounts.ts';
import { Enrolment } from '../../../controller/mqtt/enrolment.ts';
import { topics } from '../../../protocol/mqtt/index.ts';
import { agentCli } from '../../helpers/agent-process.ts';
import { httpRequest } from '../../helpers/http-client.ts';
import { recorder, startController } from '../../helpers/mqtt.ts';
import { waitFor } from '../../helpers/wait.ts';

function agentConfig(dir: string, hostId: string): string {
  const path = join(dir, `${hostId}.toml`);
  writeFileSync(path, `[agent]\nstate_dir = "${dir}/${hostId}"\nhost_id = "${hostId}"\n`);
  return path;
}

t.test('a join token is for one host, works once, and gives the host its own credentials', async (t) => {
  const c = await startController();
  t.teardown(() => c.cleanup());
  const admin = { authorization: `Bearer ${c.adminToken}` };
  t.equal((await httpRequest(`${c.apiUrl}/v1/hosts`, 'POST', { name: 'hv-j' })).status, 401, 'admins only');
  const add = await httpRequest(`${c.apiUrl}/v1/hosts`, 'POST', { name: 'hv-j' }, admin);
  t.equal(add.status, 201);
  t.match(add.body.token, /^stj1\.[0-9a-f]{64}\.[A-Za-z0-9_-]{43}$/);
  t.equal(add.body.caFingerprint, c.daemon.access.tls!.caFingerprint, 'the token pins the site CA');
  t.notMatch(JSON.stringify(c.logs()), add.body.token.split('.')[2], 'the secret is never logged');

  const dir = t.testdir();
  // a token presented by an agent with another host id is refused and stays valid
  const other = await agentCli(agentConfig(dir, 'hv-other'), ['join', c.apiUrl, add.body.token]);
  t.equal(other.code, 1);
  t.match(other.stderr, /for host "hv-j".*host_id is "hv-other"/);

  const cfg = agentConfig(dir, 'hv-j');
  const joined = await agentCli(cfg, ['join', c.apiUrl, add.body.token]);
  t.equal(joined.code, 0, joined.stderr);
  t.match(joined.stdout, /joined as hv-j/);
  const credsPath = join(dir, 'hv-j', 'credentials.json');
  t.equal(statSync(credsPath).mode & 0o777, 0o600, 'credentials 0600');
  t.equal(statSync(join(dir, 'hv-j', 'site-ca.pem')).mode & 0o777, 0o600, 'site CA 0600');
  const creds = JSON.parse(readFileSync(credsPath, 'utf8'));
  t.equal(creds.mqtt.username, 'hv-j');
  t.equal(creds.mqtt.url, c.mqttUrl);

  // once only
  const again = await agentCli(cfg, ['join', c.apiUrl, add.body.token, '--force']);
  t.equal(again.code, 1);
  t.match(again.stderr, /unknown, already used or expired/);
  const twice = await httpRequest(`${c.apiUrl}/v1/join`, 'POST', { token: add.body.token });
  t.equal(twice.status, 403);
  t.equal(twice.body.code, 'STRATUS_ERR_JOIN_REFUSED');
  t.equal((await httpRequest(`${c.apiUrl}/v1/hosts`, 'POST', { name: 'hv-j' }, admin)).status, 409, 'enrolled');

  // the credentials work on the broker, for this host's topics
  const host = await recorder(c.mqttUrl, [topics.cmdPrefix('hv-j') + '/#'], {
    username: creds.mqtt.username,
    password: creds.mqtt.password,
    clientId: 'stratus-agent-hv-j',
    reconnectPeriod: 0,
  });
  const ctl = await recorder(c.mqttUrl, [topics.hostStatus('hv-j')], c.observer());
  t.teardown(() => Promise.all([host.end(), ctl.end()]).then(() => undefined));
  await host.client.publishAsync(topics.hostStatus('hv-j'), 'hello', { qos: 1 });
  await ctl.waitFor('status of the joined host', (m) => m.payload.toString() === 'hello');

  // revoked: the session ends and the broker refuses the credentials
  const closed = new Promise<void>((r) => host.client.once('close', () => r()));
  t.equal((await httpRequest(`${c.apiUrl}/v1/hosts/hv-j/revoke`, 'POST', {}, admin)).status, 204);
  await closed;
  t.pass('the revoked host was disconnected');
  await t.rejects(
    mqtt.connectAsync(c.mqttUrl, {
      protocolVersion: 4,
      username: creds.mqtt.username,
      password: creds.mqtt.password,
      reconnectPeriod: 0,
    }),
    'a revoked host is refused',
  );
  t.equal((await httpRequest(`${c.apiUrl}/v1/hosts/hv-j/revoke`, 'POST', {}, admin)).status, 404);
  // and it can be enrolled again
  t.equal((await httpRequest(`${c.apiUrl}/v1/hosts`, 'POST', { name: 'hv-j' }, admin)).status, 201);
  await waitFor('revocation logged', () => c.logs().find((l) => l.msg === 'host revoked' && l.host === 'hv-j'));
});

t.test('join tokens expire, are stored hashed, and a new one replaces the pending one', async (t) => {
  const dir = t.testdir();
  const db = new ControllerDb(`${dir}/c.db`);
  t.teardown(() => db.close());
  let now = 1_000_000;
  const accounts = new MqttAccounts(db.db);
  const e = new Enrolment(
    db.db,
    accounts,
    () => 'ab'.repeat(32),
    () => now,
  );
  const first = e.issue('hv-x', 60);
  const second = e.issue('hv-x', 60);
  t.throws(() => e.redeem(first.token), { code: 'STRATUS_ERR_JOIN_REFUSED' }, 'the replaced token is dead');
  const rows = db.db.prepare('SELECT * FROM join_tokens').all() as Record<string, unknown>[];
  t.notMatch(JSON.stringify(rows), second.token.split('.')[2]!, 'only a hash is stored');
  now += 60_000;
  t.throws(() => e.redeem(second.token), { code: 'STRATUS_ERR_JOIN_REFUSED' }, 'expired after its ttl');
  t.equal(accounts.get('hv-x'), undefined, 'no account made');
  const third = e.issue('hv-x', 60);
  now += 59_000;
  t.equal(e.redeem(third.token).hostId, 'hv-x', 'valid until then');
  t.throws(() => e.redeem('stj1.' + 'ab'.repeat(32) + '.' + 'A'.repeat(43)), { code: 'STRATUS_ERR_JOIN_REFUSED' });
  t.throws(() => e.redeem('garbage'), { code: 'STRATUS_ERR_JOIN_REFUSED' });
  t.notOk(existsSync(join(dir, 'credentials.json')));
});
