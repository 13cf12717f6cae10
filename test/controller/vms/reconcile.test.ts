// The controller reconciles its VMs with what hosts report (controller/vms/reconciler.ts), and reads a
// failed deploy by its typed error (outcomes.ts). Simulated agents make each measured failure exact:
// an agent killed mid-deploy, "effect unknown" answers for VMs that run, a refused image, a VM gone.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { httpRequest } from '../../helpers/http-client.ts';
import { startController } from '../../helpers/mqtt.ts';
import { SimAgent } from '../../helpers/sim-agent.ts';
import { waitFor } from '../../helpers/wait.ts';

const TOKEN = 'st_test_admin_token_reconcile_0123456789';

async function site(t: { teardown: (f: () => Promise<void>) => void }, hosts: string[]) {
  const c = await startController({
    STRATUS_CONTROLLER_API_ADMIN_TOKEN: TOKEN,
    STRATUS_CONTROLLER_MQTT_HOST_DOWN_GRACE_S: '0',
    STRATUS_CONTROLLER_SCHEDULER_RECONCILE_INTERVAL_S: '1',
  });
  const agents = new Map<string, SimAgent>();
  t.teardown(async () => {
    for (const a of agents.values()) await a.stop();
    await c.cleanup();
  });
  const api = (method: string, path: string, body?: unknown) =>
    httpRequest(c.apiUrl + path, method, body, { authorization: `Bearer ${TOKEN}` });
  for (const h of hosts) {
    const id = `${h}-${randomUUID().slice(0, 6)}`;
    const a = new SimAgent(id, c.mqttUrl, 1, c.account(id));
    await a.start();
    agents.set(h, a);
    await waitFor(`host ${a.id} up`, () => c.daemon.fleet.host(a.id)?.up || undefined);
  }
  const img = await api('POST', '/v1/images', {
    name: 'img',
    url: 'http://127.0.0.1:9/disk.qcow2',
    sha256: 'a'.repeat(64),
    format: 'qcow2',
  });
  if (img.status !== 201) throw new Error(`image: ${img.status} ${JSON.stringify(img.body)}`);
  const vm = async (name: string): Promise<string> => {
    const r = await api('POST', '/v1/vms', { name, type: 't1.micro', image: 'img' });
    if (r.status !== 202) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.items[0].id;
  };
  const show = async (id: string) => (await api('GET', `/v1/vms/${id}`)).body;
  const until = (what: string, id: string, pred: (v: any) => boolean, ms = 20_000) =>
    waitFor(
      what,
      async () => {
        const v = await show(id);
        return pred(v) ? v : undefined;
      },
      ms,
      50,
    );
  return { c, api, agents, vm, show, until, store: c.daemon.vms.store };
}

t.test('an agent killed mid-deploy that comes back gets the deploy again with the same key', async (t) => {
  const s = await site(t, ['hv']);
  const a = s.agents.get('hv')!;
  a.handler = () => undefined; // the agent takes the command and dies before answering
  const id = await s.vm('web');
  await waitFor('the deploy to reach the agent', () => a.commands('deploy').length > 0 || undefined);
  const first = a.commands('deploy')[0]!;
  await a.kill();
  await waitFor('the host down', () => (s.c.daemon.fleet.host(a.id)?.up === false ? true : undefined));
  a.handler = (cmd) => (cmd.command === 'deploy' ? { ok: true, result: { state: 'running' } } : undefined);
  await a.restart();
  const v = await s.until('the VM running', id, (v) => v.state === 'running');
  t.equal(v.host, a.id);
  const resent = a.commands('deploy').slice(1);
  t.ok(resent.length >= 1, 'the deploy was sent again when the agent came back (not after the 900 s timeout)');
  t.ok(
    resent.every((c) => c.key === first.key),
    'with the same idempotency key',
  );
  t.equal(v.attempts, 1, 'the same attempt');
});

t.test('"effect unknown" for a VM its host runs: adopted there, never moved or excluded', async (t) => {
  const s = await site(t, ['hv-a', 'hv-b']);
  const a = s.agents.get('hv-a')!;
  const b = s.agents.get('hv-b')!;
  for (const x of [a, b]) {
    x.handler = (cmd) => {
      if (cmd.command !== 'deploy') return undefined;
      // the domain runs, but the agent restarted under the command and cannot say so
      void x.vm(cmd.args.spec.id, 'running', cmd.args.spec.name);
      return {
        ok: false,
        error: {
          code: 'STRATUS_ERR_COMMAND_INTERRUPTED',
          message: 'command deploy was running when the agent stopped; its effect is unknown',
          status: 500,
        },
      };
    };
  }
  const id = await s.vm('db');
  const v = await s.until('the VM adopted', id, (v) => v.state === 'running');
  const host = v.host;
  t.ok(host === a.id || host === b.id);
  const other = host === a.id ? b : a;
  t.equal(other.commands('deploy').length, 0, 'no second copy was deployed on the other host');
  const events = s.store.events(id);
  t.notOk(
    events.some((e) => e.to === 'pending' && e.from === 'deploying'),
    'the VM never went back to pending',
  );
  t.same(s.store.get(id).excludedHosts, [], 'the host is not excluded');
});

t.test('libvirtd restarted under a deploy (503): the VM its host reports running is adopted', async (t) => {
  const s = await site(t, ['hv']);
  const a = s.agents.get('hv')!;
  a.handler = (cmd) => {
    if (cmd.command !== 'deploy') return undefined;
    void a.vm(cmd.args.spec.id, 'running', cmd.args.spec.name);
    return {
      ok: false,
      error: { code: 'STRATUS_ERR_LIBVIRT_DISCONNECTED', message: 'not connected to libvirt', status: 503 },
    };
  };
  const id = await s.vm('x');
  const v = await s.until('running', id, (v) => v.state === 'running');
  t.equal(v.host, a.id);
  t.notOk(/no host fits/.test(v.reason));
});

t.test('a pending VM that a host reports running is adopted there (a restart after the old behaviour)', async (t) => {
  const s = await site(t, ['hv']);
  const a = s.agents.get('hv')!;
  a.handler = () => undefined;
  s.c.daemon.vms.hostAdmin.set(a.id, { enabled: false, reason: 'keep the VM pending' });
  const id = await s.vm('p');
  // the VM was sent back to pending although its domain runs on the host
  await a.vm(id, 'running', 'p');
  const v = await s.until('adopted', id, (v) => v.state === 'running');
  t.equal(v.host, a.id);
  t.match(v.reason, /adopted/);
});

t.test('a deterministic refusal fails the VM at once with the reason; other failures retry elsewhere', async (t) => {
  const s = await site(t, ['hv-a', 'hv-b']);
  for (const x of s.agents.values()) {
    x.handler = (cmd) =>
      cmd.command === 'deploy'
        ? {
            ok: false,
            error: {
              code: 'STRATUS_ERR_IMAGE_REFUSED',
              message: `image ${'a'.repeat(64)} refused: it has a backing file`,
              status: 422,
            },
          }
        : undefined;
  }
  const id = await s.vm('refused');
  const v = await s.until('failed', id, (v) => v.state === 'failed');
  t.match(v.reason, /backing file/, 'vm show says why');
  const deploys = [...s.agents.values()].reduce((n, x) => n + x.commands('deploy').length, 0);
  t.equal(deploys, 1, 'not retried on the other host');

  for (const x of s.agents.values()) {
    x.handler = (cmd) =>
      cmd.command === 'deploy'
        ? { ok: false, error: { code: 'STRATUS_ERR_DISK_FULL', message: 'no space left', status: 507 } }
        : undefined;
  }
  const id2 = await s.vm('diskfull');
  const v2 = await s.until(
    'failed after both hosts',
    id2,
    (v) => v.state === 'failed' || v.state === 'pending',
    20_000,
  );
  const tried = new Set(
    s.store
      .events(id2)
      .filter((e) => e.to === 'deploying')
      .map((e) => e.hostId),
  );
  t.ok(tried.size >= 1, `host-side failure goes back to the scheduler (${v2.state}: ${v2.reason})`);
  t.ok(s.store.get(id2).exclusions, 'exclusions carry an expiry');
  for (const until of Object.values(s.store.get(id2).exclusions)) t.ok(until > Date.now(), 'exclusion expires later');
});

t.test('a running VM its host reports gone becomes lost, with the reason; it reappears as running', async (t) => {
  const s = await site(t, ['hv']);
  const a = s.agents.get('hv')!;
  a.handler = (cmd) => {
    if (cmd.command === 'deploy') {
      void a.vm(cmd.args.spec.id, 'running', cmd.args.spec.name);
      return { ok: true, result: { state: 'running' } };
    }
    return undefined;
  };
  const id = await s.vm('l');
  await s.until('running', id, (v) => v.state === 'running');
  await a.vm(id, 'deleted');
  const lost = await s.until('lost', id, (v) => v.state === 'lost');
  t.match(lost.reason, /no longer has/);
  t.equal(a.commands('deploy').length, 1, 'not redeployed');
  await a.vm(id, 'running', 'l');
  await s.until('running again', id, (v) => v.state === 'running');
});

t.test('a copy of a deleted VM reported by a host is deleted there', async (t) => {
  const s = await site(t, ['hv']);
  const a = s.agents.get('hv')!;
  a.handler = (cmd) => (cmd.command === 'delete' ? { ok: true, result: null } : undefined);
  const stray = randomUUID();
  await a.vm(stray, 'running', 'ghost');
  await waitFor('the stray copy deleted', () => a.commands('delete').find((c) => c.args.vm === stray));
  t.pass('delete sent for the copy nobody wants');
});

t.test('a complete inventory without a running VM makes it lost; a partial one proves nothing', async (t) => {
  const s = await site(t, ['hv']);
  const a = s.agents.get('hv')!;
  const id = await s.vm('inv');
  await s.until('running', id, (v) => v.state === 'running');
  await a.inventory([], false);
  await a.inventory([{ vm: id, state: 'running' }], true);
  await a.inventory([], false);
  await new Promise((r) => setTimeout(r, 500));
  t.equal((await s.show(id)).state, 'running', 'a partial inventory does not make a VM lost');
  await a.inventory([], true);
  const lost = await s.until('lost', id, (v) => v.state === 'lost');
  t.match(lost.reason, /complete inventory/);
  t.equal(a.commands('deploy').length, 1, 'never redeployed');
});

t.test('an interrupted deploy the host has no copy of is deployed again on the same host with a new key', async (t) => {
  const s = await site(t, ['hv-a', 'hv-b']);
  for (const x of s.agents.values()) {
    x.handler = (cmd) => {
      if (cmd.command !== 'deploy') return undefined;
      if (cmd.key.endsWith(':1')) {
        void x.inventory([], true);
        return {
          ok: false,
          error: { code: 'STRATUS_ERR_COMMAND_INTERRUPTED', message: 'its effect is unknown', status: 500 },
        };
      }
      return { ok: true, result: { state: 'running' } };
    };
  }
  const id = await s.vm('again');
  const v = await s.until('running', id, (v) => v.state === 'running');
  const deploys = [...s.agents.values()].flatMap((x) => x.commands('deploy').map((c) => ({ host: x.id, key: c.key })));
  t.same(new Set(deploys.map((d) => d.host)).size, 1, `one host only: ${JSON.stringify(deploys)}`);
  t.equal(v.host, deploys[0]!.host);
  t.ok(
    deploys.some((d) => d.key.endsWith(':2')),
    'a second attempt with its own key',
  );
});
