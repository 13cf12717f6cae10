// Who may reach the agent's local API: by default a unix socket (mode 0660, given the configured group),
// which answers; over TCP (by configuration, loopback only) every request but /v1/health needs the bearer
// token of the token file, which is 0600 and made 0600 again at the next start when someone loosened it.

import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadAgentConfig } from '../../../agent/config.ts';
import { groupId } from '../../../drivers/host-fs.ts';
import { startAgent } from '../../helpers/agent-process.ts';
import { httpRequest } from '../../helpers/http-client.ts';

t.test('the default listener is a unix socket, 0660, with the configured group, and it answers', async (t) => {
  const group = groupId('stratus') !== undefined ? 'stratus' : 'disk';
  const agent = await startAgent({ resyncS: 300, env: { STRATUS_AGENT_API_SOCKET_GROUP: group } });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  t.ok(agent.socket, 'the agent listens on a socket');
  const st = statSync(agent.socket!);
  t.ok(st.isSocket(), 'a unix socket');
  t.equal((st.mode & 0o777).toString(8), '660', 'mode 0660');
  t.equal(st.gid, groupId(group), `group ${group}`);
  const health = await agent.request('GET', '/v1/health');
  t.equal(health.status, 200);
  t.equal(health.body.host, 'test-host');
  t.equal((await agent.request('GET', '/v1/vms')).status, 200, 'no token over the socket: the file mode decides');
});

t.test('over TCP every request but /v1/health needs the token; the token file stays 0600', async (t) => {
  let agent = await startAgent({ resyncS: 300, tcp: true });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const base = agent.url;
  t.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
  const tokenFile = join(agent.dir, 'state', 'api.token');
  t.equal((statSync(tokenFile).mode & 0o777).toString(8), '600', 'token file 0600');
  t.equal((await httpRequest(`${base}/v1/health`, 'GET')).status, 200, 'health without a token');
  const anon = await httpRequest(`${base}/v1/vms`, 'GET');
  t.equal(anon.status, 401, 'no token');
  t.equal(anon.body.code, 'STRATUS_ERR_UNAUTHORIZED');
  t.equal(anon.headers.get('www-authenticate'), 'Bearer');
  const wrong = await httpRequest(`${base}/v1/vms`, 'POST', {}, { authorization: 'Bearer sta_wrong' });
  t.equal(wrong.status, 401, 'a wrong token, also on a mutating route');
  t.equal((await agent.request('GET', '/v1/vms')).status, 200, 'the token of the file');

  chmodSync(tokenFile, 0o644);
  agent = await agent.restart();
  await agent.waitReady();
  t.equal((statSync(tokenFile).mode & 0o777).toString(8), '600', 'made 0600 again at the next start');
  t.equal((await agent.request('GET', '/v1/vms')).status, 200, 'the same token still works');
});

t.test('the API never listens off-host', async (t) => {
  for (const listen of ['0.0.0.0:8470', '10.1.2.3:8470', 'example.org:80']) {
    t.throws(
      () => loadAgentConfig(undefined, { STRATUS_AGENT_API_LISTEN: listen }),
      /must be unix:\/path or a loopback host:port/,
      listen,
    );
  }
  t.equal(loadAgentConfig(undefined, {}).api.listen, 'unix:/run/stratus/agent.sock', 'the default is the socket');
});
