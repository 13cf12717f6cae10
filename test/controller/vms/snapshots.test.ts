// Snapshots through the controller: CLI → REST → MQTT → agent → libvirt, on a real TCG guest.
import t from 'tap';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import { startController } from '../../helpers/controller-process.ts';

t.test(
  'snapshots of a running VM through the CLI and REST: create, list, revert, delete; other users refused',
  async (t) => {
    const c = await startController();
    t.teardown(() => c.cleanup());
    await c.agent('hv-snap');
    await uploadTestGuest(c, 'snapguest', 'stratus.dhcp=0');
    const vm = JSON.parse(
      (await c.cli(['vm', 'create', 'snappy', '--type', 'm1.small', '--image', 'snapguest', '--wait', '--json']))
        .stdout,
    ).items[0];
    t.equal(vm.state, 'running');

    const made = await c.cli([
      'snapshot',
      'create',
      vm.id,
      '--name',
      'before-upgrade',
      '--description',
      'clean install',
      '--json',
    ]);
    t.equal(made.code, 0, made.stderr);
    t.match(JSON.parse(made.stdout), { name: 'before-upgrade', description: 'clean install', state: 'running' });
    const listed = await c.cli(['snapshot', 'list', vm.id]);
    t.match(listed.stdout, /SNAPSHOT\s+STATE/);
    t.match(listed.stdout, /before-upgrade\s+running\s+true\s+clean install/);

    const bob = (await c.request('POST', '/v1/users', { name: 'bob' })).body.token as string;
    t.equal(
      (await c.request('GET', `/v1/vms/${vm.id}/snapshots`, undefined, bob)).status,
      404,
      'another user: 404 on reads',
    );
    t.equal(
      (await c.request('POST', `/v1/vms/${vm.id}/snapshots`, {}, bob)).status,
      403,
      'another user: 403 on actions',
    );
    const badName = await c.request('POST', `/v1/vms/${vm.id}/snapshots`, { name: 'no spaces allowed' });
    t.equal(badName.status, 400);

    const reverted = await c.cli(['snapshot', 'revert', vm.id, 'before-upgrade']);
    t.equal(reverted.code, 0, reverted.stderr);
    const missing = await c.cli(['snapshot', 'revert', vm.id, 'nope']);
    t.not(missing.code, 0, 'reverting an unknown snapshot fails');
    t.match(missing.stderr, /nope/);
    t.equal((await c.cli(['snapshot', 'delete', vm.id, 'before-upgrade'])).code, 0);
    t.same(JSON.parse((await c.cli(['snapshot', 'list', vm.id, '--json'])).stdout).items, []);
    t.equal((await c.cli(['vm', 'delete', vm.id])).code, 0);
  },
);
