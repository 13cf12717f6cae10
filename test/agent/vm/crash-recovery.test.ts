// Real libvirtd, real agent processes, mosquitto: the agent finishes or undoes its own interrupted work.
// An agent SIGKILLed at exact steps of a deploy (STRATUS_TEST_CRASH_AT) comes back with the create
// either finished or undone, and the deploy resent with the same key gets the real outcome; the
// inventory it publishes is complete and names the attempt key and spec hash.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { specHash, topics } from '../../../protocol/mqtt/index.ts';
import { type AgentHandle, startAgent } from '../../helpers/agent-process.ts';
import { guestSpec } from '../../helpers/guest.ts';
import { virsh } from '../../helpers/libvirtd.ts';
import { startMosquitto } from '../../helpers/mosquitto.ts';
import { type Recorder, recorder } from '../../helpers/mqtt.ts';

function domainState(id: string): string | undefined {
  try {
    return execFileSync('virsh', ['-c', 'qemu:///system', 'domstate', `stratus-${id}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

function commander(rec: Recorder, host: string) {
  return {
    send(command: string, args: unknown, key: string): string {
      const id = randomUUID();
      const msg = { v: 1, ts: Date.now(), id, key, command, args, deadline: Date.now() + 120_000 };
      rec.client.publish(topics.command(host, command), JSON.stringify(msg), { qos: 1 });
      return id;
    },
    result: (id: string, timeoutMs = 60_000) =>
      rec
        .waitFor(`result of ${id}`, (m) => m.topic === topics.reply(host, id) && m.json?.type === 'result', timeoutMs)
        .then((m) => m.json),
  };
}

t.test(
  'agent SIGKILLed at steps of a deploy: after restart the create is finished or undone, never half-made',
  async (t) => {
    const broker = await startMosquitto();
    t.teardown(() => broker.cleanup());
    const host = `crash-${randomUUID().slice(0, 8)}`;
    const rec = await recorder(broker.url, [`stratus/v1/hosts/${host}/#`]);
    t.teardown(() => rec.end());
    const cmd = commander(rec, host);
    const mqttToml = `[mqtt]\nurl = "${broker.url}"\nkeepalive_s = 5\nmetrics_interval_s = 2\nreconnect_max_s = 1\n`;

    // create:after-define is the measured case (defined, never started); after-record and after-disks
    // are undone; after-start only lacks the journal's final mark
    const points = ['create:after-record', 'create:after-define', 'create:after-start'];
    let agent: AgentHandle | undefined;
    t.teardown(() => agent?.cleanup());
    const created: string[] = [];
    t.teardown(async () => {
      for (const id of created) {
        if (domainState(id)) {
          try {
            virsh('destroy', `stratus-${id}`);
          } catch {}
          try {
            virsh('undefine', `stratus-${id}`);
          } catch {}
        }
      }
    });
    for (const point of points) {
      const spec = guestSpec({ name: `crash-${point.split('-').pop()}` });
      created.push(spec.id);
      const key = `deploy:${spec.id}:1`;
      agent = await startAgent({
        ...(agent ? { dir: agent.dir, port: Number(new URL(agent.url).port) } : {}),
        hostId: host,
        resyncS: 300,
        extraToml: mqttToml,
        env: { STRATUS_TEST_FAULTS: '1', STRATUS_TEST_CRASH_AT: point },
      });
      await agent.waitReady();
      const proc = agent.proc;
      const exited = new Promise((r) =>
        proc.exitCode !== null || proc.signalCode !== null ? r(0) : proc.once('exit', r),
      );
      await rec.waitFor('agent online', (m) => m.topic === topics.hostStatus(host) && m.json?.state === 'online');
      cmd.send('deploy', { spec, start: true }, key);
      await exited;
      t.equal(proc.signalCode, 'SIGKILL', `${point}: the agent was killed at that step`);

      // restarted without the crash point; the controller resends the deploy with the same key
      agent = await startAgent({
        dir: agent.dir,
        port: Number(new URL(agent.url).port),
        hostId: host,
        resyncS: 300,
        extraToml: mqttToml,
      });
      await agent.waitReady();
      const reply = await cmd.result(cmd.send('deploy', { spec, start: true }, key));
      t.equal(
        reply.ok,
        true,
        `${point}: the resent deploy gets the real outcome: ${JSON.stringify(reply.error ?? '')}`,
      );
      t.equal(reply.result?.id, spec.id);
      t.equal(reply.result?.desired, 'running', `${point}: the VM is wanted running, not "stopped outside Stratus"`);
      t.equal(domainState(spec.id), 'running', `${point}: its domain runs`);
      const view = (await agent.request('GET', `/v1/vms/${spec.id}`)).body;
      t.equal(view.desired, 'running');
      t.equal(view.key, key, 'the VM records the key of the deploy that made it');
      t.notMatch(agent.output(), /stopped outside Stratus/, `${point}: never taken for a power-off outside Stratus`);

      const inv = await rec.waitFor(`${point}: complete inventory with the VM`, (m) => {
        if (m.topic !== topics.hostInventory(host) || !m.json?.complete) return false;
        return m.json.vms.some((v: any) => v.vm === spec.id && v.state === 'running' && !v.operation);
      });
      t.equal(inv.retain || true, true);
      const entry = inv.json.vms.find((v: any) => v.vm === spec.id);
      t.equal(entry.key, key, 'the inventory names the attempt key');
      t.equal(entry.specHash, specHash(spec), 'and the hash of the spec as sent');
      t.same(inv.json.unclaimed, [], 'nothing left unclaimed');
      await agent.kill('SIGTERM');
    }

    // a fresh subscriber gets the retained inventory: complete, every VM
    const late = await recorder(broker.url, [topics.hostInventory(host)]);
    t.teardown(() => late.end());
    agent = await startAgent({
      dir: agent!.dir,
      port: Number(new URL(agent!.url).port),
      hostId: host,
      resyncS: 300,
      extraToml: mqttToml,
    });
    await agent.waitReady();
    const retained = await late.waitFor(
      'retained complete inventory after reconnect',
      (m) => m.json?.complete === true && m.json.vms.length === points.length,
    );
    t.same(
      retained.json.vms.map((v: any) => v.vm).sort(),
      [...created].sort(),
      'after a reconnect the inventory lists every VM',
    );
    for (const id of created) {
      const r = await cmd.result(cmd.send('delete', { vm: id }, `delete:${id}`));
      t.equal(r.ok, true, `delete ${id}`);
      t.equal(domainState(id), undefined, 'domain gone');
    }
  },
);

t.test('a delete that reaches a stopping agent is not failed for good: after the restart it runs', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.cleanup());
  const host = `stopping-${randomUUID().slice(0, 8)}`;
  const rec = await recorder(broker.url, [`stratus/v1/hosts/${host}/#`]);
  t.teardown(() => rec.end());
  const cmd = commander(rec, host);
  const extraToml = `[mqtt]\nurl = "${broker.url}"\nkeepalive_s = 5\nreconnect_max_s = 1\n`;
  let agent = await startAgent({ hostId: host, resyncS: 300, extraToml });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  await rec.waitFor('agent online', (m) => m.topic === topics.hostStatus(host) && m.json?.state === 'online');
  const spec = guestSpec({ name: 'stopping' });
  t.equal((await agent.request('POST', '/v1/vms', { spec })).status, 201);

  // the delete arrives as the agent stops (frozen, then SIGTERM and the delete land together)
  agent.proc.kill('SIGSTOP');
  const first = cmd.send('delete', { vm: spec.id }, `delete:${spec.id}`);
  await new Promise((r) => setTimeout(r, 500)); // let the broker send it to the frozen agent
  const exited = new Promise((r) => agent.proc.once('exit', r));
  agent.proc.kill('SIGTERM');
  agent.proc.kill('SIGCONT');
  await exited;
  agent = await startAgent({
    dir: agent.dir,
    port: Number(new URL(agent.url).port),
    hostId: host,
    resyncS: 300,
    extraToml,
  });
  await agent.waitReady();
  // whichever way it went (run before the stop, or left with the broker and redelivered), the key's
  // outcome is the real one: the same key sent again gets "deleted", never a recorded 503
  const again = await cmd.result(cmd.send('delete', { vm: spec.id }, `delete:${spec.id}`));
  t.equal(again.ok, true, `the delete succeeds: ${JSON.stringify(again.error ?? '')}`);
  t.same(again.result, { deleted: spec.id });
  const results = rec.messages.filter((m) => m.topic === topics.reply(host, first) && m.json?.type === 'result');
  for (const r of results)
    t.notOk(
      r.json.ok === false && r.json.error?.status === 503 && !r.json.error.details?.transient,
      'no untagged transient failure',
    );
  t.equal(domainState(spec.id), undefined, 'the domain is gone');
});
