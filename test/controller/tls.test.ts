// TLS off loopback (here forced with [tls] mode = "always"): the controller makes a site CA at first
// start and serves the API and MQTT over TLS; an agent joins by pinning the CA's fingerprint from the
// token and then speaks mqtts with it; a wrong fingerprint, or a CLI or MQTT client given another CA,
// is refused before any secret is sent.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t from 'tap';
import { createCa } from '../../drivers/openssl.ts';
import { agentCli, startAgent } from '../helpers/agent-process.ts';
import { startController } from '../helpers/mqtt.ts';
import { waitFor } from '../helpers/wait.ts';

const root = new URL('../..', import.meta.url).pathname;

function cli(env: Record<string, string>, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, 'bin/stratus.js'), ...args],
      { env: { ...process.env, XDG_CONFIG_HOME: '/nonexistent', ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

t.test('API and MQTT over TLS with the site CA; pinned join; wrong CA or fingerprint refused', async (t) => {
  const c = await startController({ STRATUS_CONTROLLER_TLS_MODE: 'always' });
  t.teardown(() => c.cleanup());
  t.match(c.apiUrl, /^https:/);
  t.match(c.mqttUrl, /^mqtts:/);
  const caFile = join(c.dir, 'tls', 'ca.pem');
  const dir = t.testdir();
  await createCa({ certPath: join(dir, 'other-ca.pem'), keyPath: join(dir, 'other-ca.key'), cn: 'not the site' });
  const otherCa = join(dir, 'other-ca.pem');

  // the CLI trusts the site CA when told, and nothing else
  const env = { STRATUS_URL: c.apiUrl, STRATUS_TOKEN: c.adminToken };
  const ok = await cli({ ...env, STRATUS_CA: caFile }, ['host', 'add', 'hv-tls', '--json']);
  t.equal(ok.code, 0, ok.stderr);
  const token = JSON.parse(ok.stdout).token as string;
  const wrong = await cli({ ...env, STRATUS_CA: otherCa }, ['host', 'list']);
  t.equal(wrong.code, 3, 'another CA: cannot connect');
  t.match(wrong.stderr, /certificate is not trusted/);
  const none = await cli(env, ['host', 'list']);
  t.equal(none.code, 3, 'no CA: the system CAs do not know the site CA');

  // a join token whose fingerprint is not the server's CA: nothing is sent, nothing stored
  const cfg = join(dir, 'agent.toml');
  writeFileSync(cfg, `[agent]\nstate_dir = "${dir}/state"\nhost_id = "hv-tls"\n`);
  const forged = token.replace(/^stj1\.([0-9a-f]{64})/, `stj1.${'0'.repeat(64)}`);
  const refused = await agentCli(cfg, ['join', c.apiUrl, forged]);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /fingerprint mismatch/);
  t.notOk(existsSync(join(dir, 'state', 'credentials.json')), 'no credentials stored');
  t.notOk(
    c.logs().some((l) => l.msg === 'host joined'),
    'the token never reached the controller',
  );

  // the genuine token: a real agent joins at first start ([join]) and comes online over mqtts
  const agent = await startAgent({
    uri: 'test:///default',
    extraToml: `[join]\nurl = "${c.apiUrl}"\ntoken = "${token}"\n[mqtt]\nkeepalive_s = 5\n`,
    env: { STRATUS_AGENT_AGENT_HOST_ID: 'hv-tls' },
  });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  await waitFor('the agent online over mqtts', () => c.daemon.fleet.host('hv-tls')?.up, 30_000);
  const creds = JSON.parse(readFileSync(join(agent.dir, 'state', 'credentials.json'), 'utf8'));
  t.match(creds.mqtt.url, /^mqtts:\/\//);
  t.equal(readFileSync(join(agent.dir, 'state', 'site-ca.pem'), 'utf8').trim(), readFileSync(caFile, 'utf8').trim());

  // an MQTT client given another CA refuses the broker (the host's password is never sent)
  const other = readFileSync(otherCa);
  await t.rejects(
    mqtt.connectAsync(c.mqttUrl, { protocolVersion: 4, ca: other, reconnectPeriod: 0, ...c.observer() }),
    /self.signed|unable to verify|certificate/i,
  );
  const good = await mqtt.connectAsync(c.mqttUrl, {
    protocolVersion: 4,
    ca: readFileSync(caFile),
    reconnectPeriod: 0,
    ...c.observer(),
  });
  await good.endAsync(true);
  t.pass('the site CA verifies the broker');
});
