// tier: unit
// AgentClient.dispatch against a simulated agent: results, progress, typed errors, deadlines, offline hosts.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import {
  CommandTimeoutError,
  HostUnavailableError,
  RemoteCommandError,
} from '../../../controller/mqtt/agent-client.ts';
import type { StratusError } from '../../../common/errors.ts';
import type { CommandDispatcher } from '../../../controller/mqtt/command-dispatcher.ts';
import { filters, topics } from '../../../protocol/mqtt/index.ts';
import { startController } from '../../helpers/mqtt.ts';
import { SimHost } from '../../helpers/sim-host.ts';
import { waitFor } from '../../helpers/wait.ts';

const failure = (p: Promise<unknown>): Promise<StratusError> =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: StratusError) => e,
  );

t.test('dispatch resolves with the result, relays progress, and rejects with the agent’s typed error', async (t) => {
  const c = await startController();
  t.teardown(() => c.cleanup());
  const h = new SimHost(`ac-${randomUUID().slice(0, 8)}`);
  await h.connect(c.mqttUrl, c.account(h.id));
  t.teardown(() => h.client!.endAsync(true));
  const seen: any[] = [];
  h.client!.on('message', (_topic, payload) => {
    const cmd = JSON.parse(payload.toString());
    seen.push(cmd);
    const reply = (body: object) =>
      h.publish(topics.reply(h.id, cmd.id), { ...h.env(), id: cmd.id, key: cmd.key, command: cmd.command, ...body });
    if (cmd.command === 'console') {
      void reply({ type: 'progress', progress: { step: 'half', pct: 50 } }).then(() =>
        reply({ type: 'result', ok: true, result: { text: JSON.stringify(cmd.args) } }),
      );
    } else if (cmd.command === 'stop') {
      void reply({
        type: 'result',
        ok: false,
        error: { code: 'STRATUS_ERR_VM_BUSY', message: 'busy', status: 409, details: { vm: 'x' } },
      });
    } // 'volume.info' never answers
  });
  await h.client!.subscribeAsync(filters.hostCommands(h.id), { qos: 1 });
  await h.publish(topics.hostStatus(h.id), h.status('online'), { retain: true });
  await waitFor('host up', () => c.daemon.fleet.host(h.id)?.up);

  const dispatcher: CommandDispatcher = c.daemon.agents; // the port the VM service uses
  const progress: unknown[] = [];
  const vm = randomUUID();
  const result = await dispatcher.dispatch(
    h.id,
    'console',
    { vm, bytes: 10 },
    { key: 'k-echo', onProgress: (p) => progress.push(p) },
  );
  t.same(result, { text: JSON.stringify({ vm, bytes: 10 }) }, 'typed result of the catalogue command');
  t.same(progress, [{ step: 'half', pct: 50 }]);
  t.equal(seen[0].key, 'k-echo', 'the idempotency key travels with the command');
  t.ok(seen[0].deadline > Date.now(), 'and a deadline');

  const err = await failure(c.daemon.agents.dispatch(h.id, 'stop', { vm }, { key: 'k-boom' }));
  t.type(err, RemoteCommandError);
  t.same(
    { code: err.code, status: err.status, details: err.details },
    {
      code: 'STRATUS_ERR_VM_BUSY',
      status: 409,
      details: { vm: 'x', host: h.id, command: 'stop' },
    },
  );

  const late = await failure(c.daemon.agents.dispatch(h.id, 'volume.info', {}, { timeoutMs: 300 }));
  t.type(late, CommandTimeoutError);
  t.equal(late.status, 504);
  t.equal(c.daemon.agents.inFlight, 0, 'nothing left pending');

  const off = await failure(c.daemon.agents.dispatch('no-such-host', 'volume.info', {}, { key: 'x' }));
  t.type(off, HostUnavailableError);
  t.same(off.details, { host: 'no-such-host', state: 'unknown' });
});
