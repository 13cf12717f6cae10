// Host attach mode (iscsiadm): an attach whose login fails — wrong CHAP secret, or no usable iscsid —
// leaves no open-iscsi node record, no session, no device and no record (Nova leaked sessions after
// failed attaches, OSSA-2023-003). A machine without kernel iSCSI support fails at the login too, so
// the test holds everywhere; the successful host-mode path needs a kernel with iscsi_tcp.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { VmPlacement } from '../../../controller/volumes/ports.ts';
import { type AgentHandle, startAgent } from '../../helpers/agent-process.ts';
import { guestSpec } from '../../helpers/guest.ts';
import { virsh } from '../../helpers/libvirtd.ts';
import { startTgtd, type TgtdHandle } from '../../helpers/tgtd.ts';
import { agentApiHosts, startVolumeWorld, type VolumeWorld } from '../../helpers/volumes.ts';

const initiator = `iqn.2024-01.org.stratus-test:host.${randomUUID().slice(0, 8)}`;
const vms = new Map<string, VmPlacement>();
let tgtd: TgtdHandle;
let agent: AgentHandle;
let world: VolumeWorld;

t.before(async () => {
  tgtd = await startTgtd();
  agent = await startAgent({
    extraToml: `[volumes]\niscsi_mode = "host"\ninitiator_name = "${initiator}"\nlogin_timeout_s = 5\n`,
  });
  await agent.waitReady();
  world = await startVolumeWorld({ tgtd, hosts: agentApiHosts(() => agent, vms) });
});
t.teardown(async () => {
  await agent?.cleanup();
  await world?.cleanup();
  await tgtd?.stop();
});

/** open-iscsi node records for this target (iscsiadm exits 21 when there is none). */
function nodeRecords(iqn: string): string {
  try {
    return execFileSync('iscsiadm', ['-m', 'node', '-T', iqn], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    return (e as { status?: number }).status === 21 ? '' : `error: ${String((e as { stderr?: string }).stderr)}`;
  }
}

t.test('a host-mode attach whose iSCSI login fails leaves no node record, session, device or record', async (t) => {
  t.same((await agent.request('GET', '/v1/host/iscsi')).body, { initiatorName: initiator, mode: 'host' });
  const spec = guestSpec({ name: 'host-mode' });
  t.equal((await agent.request('POST', '/v1/vms', { spec, start: false })).status, 201);
  const vol = await world.feature.service.create(
    { name: 'hm', sizeGiB: 1, shareable: false, readonly: false, tags: [] },
    'carol',
  );
  const rec = world.feature.store.get(vol.id)!;
  await world.feature.iscsi.setAccess(rec, [initiator]);
  const good = world.feature.service.attachmentFor(rec);
  const bad = { ...good, source: { ...good.source, chap: { username: rec.chapUser!, secret: 'wrongwrongwrong1' } } };

  const r = await agent.request('POST', `/v1/vms/${spec.id}/volumes`, bad);
  t.equal(r.status, 502);
  t.equal(r.body.code, 'STRATUS_ERR_VOLUME_LOGIN');
  t.match(r.body.title, new RegExp(`iSCSI login to ${rec.iqn} at ${tgtd.portal} failed`));
  t.equal(nodeRecords(rec.iqn!), '', 'no node record left');
  t.same((await tgtd.tgt.targets()).find((x) => x.iqn === rec.iqn)?.sessions, [], 'no session at the target');
  t.notMatch(virsh('dumpxml', '--inactive', `stratus-${spec.id}`), /ua-volume-/, 'no device');
  t.same((await agent.request('GET', `/v1/vms/${spec.id}/volumes`)).body.items, []);
  t.equal((await agent.request('DELETE', `/v1/vms/${spec.id}`)).status, 204);
});
