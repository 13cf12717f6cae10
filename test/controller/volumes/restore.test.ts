// tgtd forgets its targets when it restarts. With a guest doing I/O on an attached volume: tgtd is
// killed and started again while the controller watches (the watch restores the targets), then while
// the controller is down (its start restores them), then the agent is killed and restarted; the
// guest's I/O resumes each time and its data is intact, and the final detach goes through.
// And the ACL: an initiator the target does not name cannot even discover it, CHAP password or not.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import type { VmPlacement } from '../../../controller/volumes/ports.ts';
import type { Volume } from '../../../protocol/volume.ts';
import { type AgentHandle, startAgent } from '../../helpers/agent-process.ts';
import { guestSpec } from '../../helpers/guest.ts';
import { iscsiLs, startTgtd, type TgtdHandle } from '../../helpers/tgtd.ts';
import {
  agentApiHosts,
  consoleOf,
  HOST,
  startVolumeWorld,
  type VolumeWorld,
  waitConsole,
} from '../../helpers/volumes.ts';
import { waitFor } from '../../helpers/wait.ts';

const OWNER = 'bob';
const initiator = `iqn.2024-01.org.stratus-test:host.${randomUUID().slice(0, 8)}`;
const text = `keep${randomUUID().slice(0, 6)}`;
const vms = new Map<string, VmPlacement>();
let tgtd: TgtdHandle;
let agent: AgentHandle;
let world: VolumeWorld;
let vmId: string;
let vol: Volume;

t.before(async () => {
  tgtd = await startTgtd();
  agent = await startAgent({ extraToml: `[volumes]\ninitiator_name = "${initiator}"\n` });
  await agent.waitReady();
  world = await startVolumeWorld({ tgtd, hosts: agentApiHosts(() => agent, vms) });
  const spec = guestSpec({ name: 'io' }, `stratus.dhcp=0 stratus.watch_write=${text} stratus.io_probe=/dev/vda`);
  vmId = spec.id;
  const r = await agent.request('POST', '/v1/vms', { spec });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  vms.set(vmId, { id: vmId, ownerId: OWNER, hostId: HOST, state: 'running' });
  await waitConsole(agent, vmId, /STRATUS-GUEST-READY/);
  vol = await world.feature.service.create(
    { name: 'io', sizeGiB: 1, shareable: false, readonly: false, tags: [] },
    OWNER,
  );
  await world.feature.service.attach(vol.id, vmId, OWNER);
  await waitConsole(agent, vmId, new RegExp(`STRATUS-DISK-WRITTEN vda ${text}`));
});
t.teardown(async () => {
  if (vmId) await agent.request('DELETE', `/v1/vms/${vmId}`).catch(() => undefined);
  await agent?.cleanup();
  await world?.cleanup();
  await tgtd?.stop();
});

const probeRe = new RegExp(`STRATUS-IO vda ok (\\d+) ${text}`, 'g');

/** The last successful I/O round the guest reported, and where the console ends now. */
async function lastRound(): Promise<{ n: number; at: number }> {
  const c = await consoleOf(agent, vmId);
  const all = [...c.matchAll(probeRe)];
  return { n: all.length ? Number(all[all.length - 1]![1]) : 0, at: c.length };
}

/** Waits until the guest completes a round started after `after`, with no failed round since `from`. */
async function ioResumes(t: Test, after: number, from: number): Promise<void> {
  const n = await waitFor(
    'the guest to complete a new I/O round',
    async () => {
      const { n } = await lastRound();
      return n > after + 1 ? n : undefined;
    },
    90_000,
    250,
  );
  const since = (await consoleOf(agent, vmId)).slice(from);
  t.notMatch(since, /STRATUS-IO vda error/, 'no failed I/O round');
  t.ok(n > after, `I/O rounds went on (${after} → ${n}) and the marker is intact`);
}

const targetOf = async (iqn: string) => (await tgtd.tgt.targets()).find((x) => x.iqn === iqn);

t.test('tgtd killed and restarted under a running guest: the watch restores the target and I/O resumes', async (t) => {
  await waitConsole(agent, vmId, probeRe);
  const before = await lastRound();
  await tgtd.kill();
  await new Promise((r) => setTimeout(r, 1500));
  await tgtd.start();
  t.same(await tgtd.tgt.targets(), [], 'the new tgtd knows no target');
  // the ACL is bound last (after the LUN and the CHAP account, so nobody gets in without CHAP)
  const restored = await waitFor(
    'the target to be restored',
    async () => {
      const x = await targetOf(vol.iqn!);
      return x && x.acl.length > 0 ? x : undefined;
    },
    15_000,
    100,
  );
  t.same(restored.acl, [initiator], 'restored with its ACL');
  t.same(restored.accounts, [`stratus-${vol.id}`], 'and its CHAP account');
  t.equal(restored.luns.find((l) => l.lun === 1)?.path, world.feature.store.get(vol.id)!.location);
  await ioResumes(t, before.n, before.at);
  t.equal(world.feature.service.get(vol.id).state, 'in-use');
});

t.test('controller stopped, tgtd restarted meanwhile: the controller restores the target at its start', async (t) => {
  const before = await lastRound();
  await world.stop();
  await tgtd.kill();
  await tgtd.start();
  t.same(await tgtd.tgt.targets(), []);
  world = await world.restart();
  const restored = await targetOf(vol.iqn!);
  t.ok(restored, 'restored by the start itself');
  t.same(restored!.acl, [initiator]);
  await ioResumes(t, before.n, before.at);
  t.match(world.feature.service.get(vol.id), { state: 'in-use', attachments: [{ vmId, state: 'attached' }] });
});

t.test('agent SIGKILLed and restarted: the attachment is still known and guest I/O goes on', async (t) => {
  const before = await lastRound();
  await agent.kill('SIGKILL');
  agent = await agent.restart();
  await agent.waitReady();
  t.match((await agent.request('GET', `/v1/vms/${vmId}/volumes`)).body.items, [
    { volumeId: vol.id, device: 'vda', mode: 'qemu' },
  ]);
  await ioResumes(t, before.n, before.at);
});

t.test('iscsi-ls from another initiator sees no target; this host sees only its attached volumes', async (t) => {
  const idle = await world.feature.service.create(
    { name: 'idle', sizeGiB: 1, shareable: false, readonly: false, tags: [] },
    OWNER,
  );
  const mine = iscsiLs(tgtd.portal, initiator);
  t.same(mine, [vol.iqn], 'the host of the attached VM discovers that volume only');
  t.notOk(mine.includes(idle.iqn!), 'an available volume is hidden from everyone');
  t.same(iscsiLs(tgtd.portal, 'iqn.2024-01.org.example:intruder'), [], 'another initiator discovers nothing');
  // even with the right CHAP credentials, another initiator cannot log in
  const rec = world.feature.store.get(vol.id)!;
  const url = `iscsi://${rec.chapUser}%${rec.chapSecret}@${tgtd.portal}/${rec.iqn}/1`;
  const err = (() => {
    try {
      execFileSync('iscsi-inq', ['-i', 'iqn.2024-01.org.example:intruder', url], { encoding: 'utf8', stdio: 'pipe' });
      return '';
    } catch (e) {
      return String((e as { stderr?: string }).stderr ?? e);
    }
  })();
  t.match(err, /Target not found/, 'login refused');
  await world.feature.service.delete(idle.id, OWNER);
});

t.test('detached at the end: the target stops naming the host', async (t) => {
  await world.feature.service.detach(vol.id, vmId, OWNER);
  t.same((await targetOf(vol.iqn!))?.acl, []);
  t.same(iscsiLs(tgtd.portal, initiator), []);
  await world.feature.service.delete(vol.id, OWNER);
  t.equal(await targetOf(vol.iqn!), undefined, 'target removed with the volume');
});
