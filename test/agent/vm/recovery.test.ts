// Real libvirtd: the agent survives its own SIGKILL and libvirtd restarts without touching guests.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startAgent } from '../../helpers/agent-process.ts';
import { guestSpec } from '../../helpers/guest.ts';
import { qemuPid, restartLibvirtd, virsh } from '../../helpers/libvirtd.ts';
import { waitFor } from '../../helpers/wait.ts';

t.test('agent killed with SIGKILL while guests run: restarted, it adopts them and they keep running', async (t) => {
  let agent = await startAgent({ resyncS: 300 });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const specs = [guestSpec({ name: 'adopt-a' }), guestSpec({ name: 'adopt-b' })];
  for (const spec of specs) t.equal((await agent.request('POST', '/v1/vms', { spec })).status, 201);
  const stopped = guestSpec({ name: 'adopt-stopped' });
  t.equal((await agent.request('POST', '/v1/vms', { spec: stopped, start: false })).status, 201);
  const pids = specs.map((s) => qemuPid(`stratus-${s.id}`));
  t.ok(
    pids.every((p) => p && p > 0),
    'each guest has a QEMU process',
  );

  // a stratus-looking domain the agent never created (no metadata): never touched
  const stranger = randomUUID();
  const xmlPath = join(agent.dir, 'stranger.xml');
  writeFileSync(
    xmlPath,
    `<domain type='qemu'><name>stratus-${stranger}</name><uuid>${stranger}</uuid><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>`,
  );
  virsh('define', xmlPath);
  t.teardown(() => virsh('undefine', `stratus-${stranger}`));

  await agent.kill('SIGKILL');
  agent = await startAgent({ dir: agent.dir, resyncS: 300 });
  // control requests wait until recovery is done: 503 with Retry-After, never a wrong answer
  const first = await waitFor('the restarted agent to answer', async () => {
    try {
      return await agent.request('POST', `/v1/vms/${specs[0]!.id}/suspend`, {});
    } catch {
      return undefined;
    }
  });
  if (first.status === 503) {
    t.equal(first.headers.get('retry-after') !== null, true, '503 carries Retry-After');
    t.equal(first.body.code, 'STRATUS_ERR_NOT_READY');
    await agent.waitReady();
    t.equal((await agent.request('POST', `/v1/vms/${specs[0]!.id}/suspend`, {})).status, 200);
  } else t.equal(first.status, 200, 'recovery was already done');
  t.equal((await agent.request('POST', `/v1/vms/${specs[0]!.id}/resume`, {})).status, 200);

  const list = (await agent.request('GET', '/v1/vms')).body.items as { id: string; state: string }[];
  t.equal(list.length, 3, 'all three VMs known after restart');
  for (const [i, spec] of specs.entries()) {
    t.equal(qemuPid(`stratus-${spec.id}`), pids[i], `${spec.name} still runs in the same QEMU process`);
    t.equal(list.find((v) => v.id === spec.id)?.state, 'running');
  }
  t.equal(list.find((v) => v.id === stopped.id)?.state, 'shutoff', 'the stopped VM stays stopped');
  const unmanaged = (await agent.request('GET', '/v1/unmanaged-domains')).body.items as { uuid: string }[];
  t.notOk(
    unmanaged.some((d) => d.uuid === stranger),
    'a stratus-named domain without this host id in its metadata is not ours: not even listed',
  );
  t.match(virsh('domstate', `stratus-${stranger}`), /shut off/, 'and left alone');
  for (const spec of [...specs, stopped]) t.equal((await agent.request('DELETE', `/v1/vms/${spec.id}`)).status, 204);
});

t.test(
  'libvirtd restarted while the agent runs: it reconnects, re-registers events, state stays correct',
  async (t) => {
    const agent = await startAgent({ resyncS: 300 });
    t.teardown(() => agent.cleanup());
    await agent.waitReady();
    const spec = guestSpec({ name: 'reconnect' });
    t.equal((await agent.request('POST', '/v1/vms', { spec })).status, 201);
    const pid = qemuPid(`stratus-${spec.id}`);

    await restartLibvirtd();
    await waitFor(
      'the agent to reconnect',
      async () => (await agent.request('GET', '/v1/health')).status === 200,
      30_000,
    );
    t.match(agent.output(), /libvirt connection lost/, 'the loss was noticed');
    t.equal(qemuPid(`stratus-${spec.id}`), pid, 'the guest kept running through the restart');

    // events flow again on the new connection: an out-of-band change is seen at once
    virsh('suspend', `stratus-${spec.id}`);
    const state = async () => (await agent.request('GET', `/v1/vms/${spec.id}`)).body.state;
    t.equal(
      await waitFor('paused seen', async () => ((await state()) === 'paused' ? 'paused' : undefined), 2000, 20),
      'paused',
    );
    t.equal((await agent.request('POST', `/v1/vms/${spec.id}/resume`, {})).status, 200, 'control works again');
    t.equal(await state(), 'running');
    t.equal((await agent.request('DELETE', `/v1/vms/${spec.id}`)).status, 204);
  },
);
