// Real controller and agents; the extra hosts are agents on libvirt's test driver (each with the test
// driver's own node capacity: 16 CPUs, 3 GiB), so placement is checked on three hosts at once.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { AgentHandle } from '../../helpers/agent-process.ts';
import { type ControllerHandle, startController } from '../../helpers/controller-process.ts';
import { sha256File } from '../../helpers/file-server.ts';
import { testGuest } from '../../helpers/guest.ts';
import { waitFor } from '../../helpers/wait.ts';

const TEST_URI = 'test:///default';

type Cloud = ControllerHandle & { agents: Map<string, AgentHandle> };

async function cloud(policy: string, hosts: string[], agentToml: Record<string, string> = {}): Promise<Cloud> {
  const c = (await startController({ scheduler: `policy = "${policy}"` })) as Cloud;
  c.agents = new Map();
  for (const h of hosts) c.agents.set(h, await c.agent(h, { uri: TEST_URI, extraToml: agentToml[h] ?? '' }));
  const up = await c.cli([
    'image',
    'upload',
    testGuest().disk,
    '--name',
    'disk',
    '--format',
    'qcow2',
    '--public',
    '--quiet',
    '--json',
  ]);
  if (up.code !== 0) throw new Error(up.stderr);
  return c;
}

async function launch(c: ControllerHandle, body: Record<string, unknown>) {
  const r = await c.request('POST', '/v1/vms', { type: 't1.micro', image: 'disk', ...body });
  if (r.status !== 202) throw new Error(`create: ${r.status} ${r.body.title}`);
  return r.body.items as { id: string; name: string }[];
}

async function settled(c: ControllerHandle, ids: string[], states = ['running', 'failed', 'pending']) {
  return Promise.all(
    ids.map((id) =>
      waitFor(
        `VM ${id} to settle`,
        async () => {
          const r = await c.request('GET', `/v1/vms/${id}`);
          return states.includes(r.body.state) && !(r.body.state === 'pending' && r.body.reason.startsWith('waiting'))
            ? r.body
            : undefined;
        },
        60_000,
        100,
      ),
    ),
  );
}

t.test('packing fills one host first; anti-affinity still spreads a group over distinct hosts', async (t) => {
  const c = await cloud('packing', ['hv-a', 'hv-b', 'hv-c']);
  t.teardown(() => c.cleanup());
  const five = await settled(
    c,
    (await launch(c, { name: 'pack', count: 5 })).map((v) => v.id),
    ['running'],
  );
  t.same(
    five.map((v) => v.host),
    ['hv-a', 'hv-a', 'hv-a', 'hv-a', 'hv-a'],
    'all five on the first host',
  );
  const group = await settled(
    c,
    (await launch(c, { name: 'db', count: 3, antiAffinityGroup: 'db' })).map((v) => v.id),
    ['running'],
  );
  t.same(group.map((v) => v.host).sort(), ['hv-a', 'hv-b', 'hv-c'], 'one member of the group per host');
  const [fourth] = await settled(
    c,
    (await launch(c, { name: 'db-4', antiAffinityGroup: 'db' })).map((v) => v.id),
    ['pending'],
  );
  t.equal(fourth.state, 'pending');
  t.match(fourth.reason, /no host fits: 3 hosts already running group db/, 'the pending VM says why');
  const shown = await c.cli(['vm', 'show', fourth.id]);
  t.match(
    shown.stdout,
    /reason\s+no host fits: 3 hosts already running group db/,
    '`stratus vm show` says why it waits',
  );
});

t.test('striping spreads VMs over the hosts', async (t) => {
  const c = await cloud('striping', ['hv-a', 'hv-b', 'hv-c']);
  t.teardown(() => c.cleanup());
  const five = await settled(
    c,
    (await launch(c, { name: 'spread', count: 5 })).map((v) => v.id),
    ['running'],
  );
  t.same(
    five.map((v) => v.host),
    ['hv-a', 'hv-b', 'hv-c', 'hv-a', 'hv-b'],
  );
});

t.test('a full site keeps the next VM pending with the reason; freeing capacity schedules it', async (t) => {
  const c = await cloud('packing', ['hv-a']);
  t.teardown(() => c.cleanup());
  t.equal((await c.request('POST', '/v1/types', { name: 'half', vcpus: 2, memoryMiB: 2048, diskGiB: 0 })).status, 201);
  const [first] = await settled(
    c,
    (await launch(c, { name: 'big-1', type: 'half' })).map((v) => v.id),
    ['running'],
  );
  const [second] = await settled(
    c,
    (await launch(c, { name: 'big-2', type: 'half' })).map((v) => v.id),
    ['pending'],
  );
  t.match(second.reason, /no host fits: 1 host short of 2048 MiB free memory/);
  const host = await c.request('GET', '/v1/hosts/hv-a');
  t.equal(host.body.usedMemoryMiB, 2048);
  t.equal((await c.request('DELETE', `/v1/vms/${first.id}`)).status, 204);
  const [now] = await settled(c, [second.id], ['running']);
  t.equal(now.host, 'hv-a', 'placed as soon as the capacity was freed');
});

t.test(
  'a deploy that fails on one host succeeds on another, and the failed attempt leaves nothing behind',
  async (t) => {
    const sha = sha256File(testGuest().disk);
    // hv-a refuses the image by policy: its deploy fails after the controller placed the VM there
    const c = await cloud('packing', ['hv-a', 'hv-b'], { 'hv-a': `[images]\ndeny_checksums = ["${sha}"]\n` });
    t.teardown(() => c.cleanup());
    const [vm] = await settled(
      c,
      (await launch(c, { name: 'retry' })).map((v) => v.id),
      ['running', 'failed'],
    );
    t.equal(vm.state, 'running');
    t.equal(vm.host, 'hv-b');
    t.equal(vm.attempts, 2);
    const events = (await c.request('GET', `/v1/vms/${vm.id}`)).body.events as {
      to: string;
      reason: string;
      hostId: string;
    }[];
    t.ok(
      events.some((e) => e.to === 'pending' && /deploy on hv-a failed: .*retrying on another host/.test(e.reason)),
      'the failure is in the history',
    );
    t.equal((await c.request('GET', '/v1/hosts/hv-a')).body.usedVcpus, 0, 'no capacity held on hv-a');
    // on hv-a itself: no VM record, no domain, no instance directory
    const hvA = c.agents.get('hv-a')!;
    t.same((await hvA.request('GET', '/v1/vms')).body.items, [], 'no VM record on hv-a');
    t.same((await hvA.request('GET', '/v1/unmanaged-domains')).body.items, [], 'no stratus domain on hv-a');
    t.notOk(existsSync(join(hvA.dir, 'state', 'instances', vm.id)), 'no instance directory on hv-a');
    t.match(hvA.output(), /refused by the image policy|policy/i, 'hv-a logged the policy refusal');
  },
);
