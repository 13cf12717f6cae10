// Real libvirtd, real TCG guests: boot and console, and every lifecycle change seen through events.
import t from 'tap';
import { type AgentHandle, startAgent } from '../../helpers/agent-process.ts';
import { BOOT_LINE, guestSpec } from '../../helpers/guest.ts';
import { virsh } from '../../helpers/libvirtd.ts';
import { waitFor } from '../../helpers/wait.ts';

let agent: AgentHandle;
t.before(async () => {
  // a resync interval far above one second: whatever the agent learns within a second came from an event
  agent = await startAgent({ resyncS: 300 });
  await agent.waitReady();
});
t.teardown(() => agent.cleanup());

const state = async (id: string) => (await agent.request('GET', `/v1/vms/${id}`)).body.state as string;

t.test('a guest started by the agent boots and its line appears in the console log the agent exposes', async (t) => {
  const spec = guestSpec({ name: 'boot-check' });
  const created = await agent.request('POST', '/v1/vms', { spec });
  t.equal(created.status, 201, JSON.stringify(created.body));
  t.equal(created.body.state, 'running');
  t.equal(created.body.domain, `stratus-${spec.id}`);
  const text = await waitFor(
    'the boot line on the console',
    async () => {
      const r = await agent.request('GET', `/v1/vms/${spec.id}/console`);
      return typeof r.body === 'string' && r.body.includes(BOOT_LINE) ? r.body : undefined;
    },
    90_000,
    250,
  );
  t.match(text, /STRATUS-GUEST-BOOTED/);
  t.equal((await agent.request('DELETE', `/v1/vms/${spec.id}`)).status, 204);
  t.throws(() => virsh('dominfo', `stratus-${spec.id}`), 'domain undefined on delete');
  t.equal((await agent.request('GET', `/v1/vms/${spec.id}`)).status, 404);
});

t.test('every lifecycle action is observed through libvirt events within one second', async (t) => {
  const spec = guestSpec({ name: 'events' });
  t.equal((await agent.request('POST', '/v1/vms', { spec })).status, 201);
  const dom = `stratus-${spec.id}`;
  const seen = async (what: string, expected: string) =>
    t.equal(
      await waitFor(
        `${what} → ${expected}`,
        async () => ((await state(spec.id)) === expected ? expected : undefined),
        1000,
        20,
      ),
      expected,
      `${what} seen as ${expected}`,
    );

  // changes made behind the agent's back (virsh), so only an event can tell it in time
  virsh('suspend', dom);
  await seen('virsh suspend', 'paused');
  virsh('resume', dom);
  await seen('virsh resume', 'running');
  virsh('destroy', dom);
  await seen('virsh destroy', 'shutoff');
  t.equal(
    (await agent.request('GET', `/v1/vms/${spec.id}`)).body.desired,
    'stopped',
    'accepted as stopped outside Stratus',
  );
  virsh('start', dom);
  await seen('virsh start', 'running');

  // and the agent's own actions
  for (const [action, expected] of [
    ['suspend', 'paused'],
    ['resume', 'running'],
  ] as const) {
    const r = await agent.request('POST', `/v1/vms/${spec.id}/${action}`, {});
    t.equal(r.status, 200, `${action} accepted`);
    await seen(action, expected);
  }
  // reboot and reset leave the state running: the proof is libvirt's reboot event reaching the agent
  const rebootEvents = () =>
    agent
      .output()
      .split('\n')
      .filter((l) => l.includes(spec.id) && l.includes('"event":"rebooted"')).length;
  for (const action of ['reset', 'reboot'] as const) {
    const before = rebootEvents();
    const r = await agent.request('POST', `/v1/vms/${spec.id}/${action}`, {});
    t.equal(r.status, 200, `${action} accepted`);
    if (action === 'reset') {
      t.ok(
        await waitFor(`${action} event`, () => rebootEvents() > before, 1000, 20),
        `${action} seen through the reboot event`,
      );
    } else {
      // an ACPI reboot is done by the guest itself; the event follows when the guest acts on it
      t.ok(
        await waitFor(`${action} event`, () => rebootEvents() > before, 30_000, 50),
        `${action} seen through the reboot event`,
      );
    }
    t.equal(await state(spec.id), 'running');
  }
  const stop = await agent.request('POST', `/v1/vms/${spec.id}/stop`, { timeoutS: 10 });
  t.equal(stop.status, 200, JSON.stringify(stop.body));
  t.equal(stop.body.state, 'shutoff');
  t.equal(stop.body.desired, 'stopped');
  const start = await agent.request('POST', `/v1/vms/${spec.id}/start`, {});
  t.equal(start.body.state, 'running');
  const forced = await agent.request('POST', `/v1/vms/${spec.id}/stop`, { force: true });
  t.equal(forced.body.state, 'shutoff');
  const resumeStopped = await agent.request('POST', `/v1/vms/${spec.id}/resume`, {});
  t.equal(resumeStopped.status, 409, 'resume of a stopped VM is a conflict');
  t.match(resumeStopped.body.title, /cannot resume/);
  t.equal((await agent.request('DELETE', `/v1/vms/${spec.id}`)).status, 204);
});

t.test('a domain that vanishes from libvirt is defined again by the periodic comparison', async (t) => {
  const agent = await startAgent({ resyncS: 1 });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const state = async (id: string) => (await agent.request('GET', `/v1/vms/${id}`)).body.state as string;
  const spec = guestSpec({ name: 'vanish' });
  t.equal((await agent.request('POST', '/v1/vms', { spec, start: false })).status, 201);
  virsh('undefine', `stratus-${spec.id}`);
  await waitFor(
    'the domain to be defined again',
    () => virsh('domstate', `stratus-${spec.id}`).includes('shut off'),
    15_000,
    200,
  );
  t.equal(await state(spec.id), 'shutoff');
  t.equal((await agent.request('DELETE', `/v1/vms/${spec.id}`)).status, 204);
});
