// Real libvirtd, tgtd, mosquitto and agent processes SIGKILLed at journal crash points of volume
// operations on a running TCG guest (qemu-mode iSCSI with CHAP): an attach cut before its hot-plug is
// undone completely (no libvirt secret, no disk, no record) and the command sent again with its key
// runs again; one cut after the disk is in the domain is finished (record written) and the key gets the
// attachment; a detach cut after the unplug is finished (secret and record gone) and the key gets it;
// a deploy whose volume's secret was made but not recorded is undone with its secret (found by its
// usage id), and the redelivered deploy runs again.
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import type { VmPlacement } from '../../../controller/volumes/ports.ts';
import { type CrashRig, crashRig } from '../../helpers/crash-agent.ts';
import { guestSpec } from '../../helpers/guest.ts';
import { virsh } from '../../helpers/libvirtd.ts';
import { startTgtd, type TgtdHandle } from '../../helpers/tgtd.ts';
import { agentApiHosts, HOST, startVolumeWorld, type VolumeWorld, waitConsole } from '../../helpers/volumes.ts';

const OWNER = 'alice';
const initiator = `iqn.2024-01.org.stratus-test:host.${randomUUID().slice(0, 8)}`;

/** A private tgtd, the controller's volume service and a crash rig's agent, removed after the test. */
async function crashWorld(t: Test, volumesToml = '') {
  const tgtd: TgtdHandle = await startTgtd();
  const rig: CrashRig = await crashRig({ extraToml: `[volumes]\ninitiator_name = "${initiator}"\n${volumesToml}` });
  const vms = new Map<string, VmPlacement>();
  const world: VolumeWorld = await startVolumeWorld({ tgtd, hosts: agentApiHosts(() => rig.agent, vms) });
  // the VM first (its guest holds an iSCSI session), then the volumes, then tgtd
  t.teardown(async () => {
    await rig.cleanup();
    await world.cleanup();
    await tgtd.stop();
  });
  return { rig, vms, svc: world.feature.service };
}

t.test(
  'volume attach and detach cut by an agent crash are undone or finished, and keys get the real outcome',
  async (t) => {
    const { rig, vms, svc } = await crashWorld(t, 'detach_timeout_s = 20\n');

    await rig.start();
    const spec = guestSpec({ name: 'vol-crash' }, 'stratus.dhcp=0');
    t.equal((await rig.agent.request('POST', '/v1/vms', { spec })).status, 201);
    vms.set(spec.id, { id: spec.id, ownerId: OWNER, hostId: HOST, state: 'running' });
    const attachmentOf = async (name: string) => {
      const vol = await svc.create({ name, sizeGiB: 1, shareable: false, readonly: false, tags: [] }, OWNER);
      const [attachment] = await svc.prepareDeploy(spec.id, HOST, [vol.id], OWNER);
      return { id: vol.id, attachment: attachment! };
    };
    const state = async (volumeId: string) => {
      const secrets = virsh('secret-list')
        .split('\n')
        .filter((l) => l.includes(`stratus-volume-${volumeId}-vm-${spec.id}`)).length;
      const alias = `ua-volume-${volumeId}`;
      const items = (await rig.agent.request('GET', `/v1/vms/${spec.id}/volumes`)).body.items as { volumeId: string }[];
      return {
        secrets,
        live: virsh('dumpxml', `stratus-${spec.id}`).includes(alias),
        config: virsh('dumpxml', '--inactive', `stratus-${spec.id}`).includes(alias),
        records: items.filter((i) => i.volumeId === volumeId).length,
      };
    };

    // cut after the host side (the secret exists), before the hot-plug: undone, then run again
    const a = await attachmentOf('cut-early');
    const keyA = `attach:${a.id}:${spec.id}`;
    const argsA = { vm: spec.id, attachment: a.attachment };
    t.ok(await rig.crash('attach:after-host-side', 'volume.attach', argsA, keyA), 'killed after the secret was made');
    t.equal(virsh('secret-list').includes(`stratus-volume-${a.id}-vm-${spec.id}`), true, 'the crash left a secret');
    await rig.start();
    await rig.recovered(spec.id);
    t.match(rig.journal(keyA), { kind: 'attach', status: 'undone', error: undefined }, 'recovery undid the attach');
    t.same(await state(a.id), { secrets: 0, live: false, config: false, records: 0 }, 'nothing of it is left');
    const againA = await rig.result(rig.send('volume.attach', argsA, keyA));
    t.equal(againA.ok, true, `the resent attach runs again: ${JSON.stringify(againA.error ?? '')}`);
    t.same(await state(a.id), { secrets: 1, live: true, config: true, records: 1 }, 'attached once');

    // cut after the hot-plug: finished (record written), the key gets the attachment
    const b = await attachmentOf('cut-late');
    const keyB = `attach:${b.id}:${spec.id}`;
    const argsB = { vm: spec.id, attachment: b.attachment };
    t.ok(await rig.crash('attach:after-device', 'volume.attach', argsB, keyB), 'killed after the hot-plug');
    await rig.start();
    await rig.recovered(spec.id);
    t.match(rig.journal(keyB), { kind: 'attach', status: 'done' }, 'recovery finished the attach');
    t.same(await state(b.id), { secrets: 1, live: true, config: true, records: 1 }, 'recorded as attached');
    const againB = await rig.result(rig.send('volume.attach', argsB, keyB));
    t.equal(againB.ok, true, JSON.stringify(againB.error ?? ''));
    t.match(againB.result, { vmId: spec.id, volumeId: b.id, mode: 'qemu', live: true }, 'the real attachment');
    t.not(againB.result.device, againA.result.device, 'on its own device');

    // detach cut after the unplug (the guest must be up to let go of the disk): finished
    await waitConsole(rig.agent, spec.id, /STRATUS-GUEST-READY/);
    const keyC = `detach:${b.id}:${spec.id}`;
    const argsC = { vm: spec.id, volume: b.id };
    t.ok(await rig.crash('detach:after-device-removed', 'volume.detach', argsC, keyC), 'killed after the unplug');
    await rig.start();
    await rig.recovered(spec.id);
    t.match(rig.journal(keyC), { kind: 'detach', status: 'done' }, 'recovery finished the detach');
    t.same(await state(b.id), { secrets: 0, live: false, config: false, records: 0 }, 'secret and record released');
    const againC = await rig.result(rig.send('volume.detach', argsC, keyC));
    t.same(againC, { ...againC, ok: true, result: { detached: true } }, 'the key gets the real outcome');
    t.same(await state(a.id), { secrets: 1, live: true, config: true, records: 1 }, 'the other volume is untouched');
  },
);

t.test(
  'a deploy cut after its volume secret was made: undone with the unrecorded secret, then run again',
  async (t) => {
    const { rig, vms, svc } = await crashWorld(t);
    await rig.start(); // the volume service asks the agent for its initiator name
    const spec = guestSpec({ name: 'vol-deploy-crash' }, 'stratus.dhcp=0');
    vms.set(spec.id, { id: spec.id, ownerId: OWNER, hostId: HOST, state: 'pending' });
    const vol = await svc.create({ name: 'at-deploy', sizeGiB: 1, shareable: false, readonly: false, tags: [] }, OWNER);
    const volumes = await svc.prepareDeploy(spec.id, HOST, [vol.id], OWNER);
    const secrets = () =>
      virsh('secret-list')
        .split('\n')
        .filter((l) => l.includes(`-vm-${spec.id}`)).length;
    const key = `deploy:${spec.id}:1`;
    const args = { spec, start: true, volumes };
    t.ok(await rig.crash('volume:after-secret', 'deploy', args, key), 'killed after the secret, before its record');
    t.equal(secrets(), 1, 'the crash left an unrecorded secret');
    await rig.start();
    await rig.recovered(spec.id);
    t.match(rig.journal(key), { kind: 'create', status: 'undone' }, 'recovery undid the create');
    t.equal(secrets(), 0, 'the secret went with it');
    t.notOk(virsh('list', '--all', '--name').includes(`stratus-${spec.id}`), 'no domain left');
    const again = await rig.result(rig.send('deploy', args, key));
    t.equal(again.ok, true, `the redelivered deploy runs again: ${JSON.stringify(again.error ?? '')}`);
    t.equal(secrets(), 1, 'one secret, recorded');
    const items = (await rig.agent.request('GET', `/v1/vms/${spec.id}/volumes`)).body.items as { volumeId: string }[];
    t.same(
      items.map((i) => i.volumeId),
      [vol.id],
      'the volume is attached once',
    );
  },
);
