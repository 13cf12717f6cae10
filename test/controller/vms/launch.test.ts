// Real controller, real agent, real libvirtd under TCG: a VM launched through the CLI runs and boots.
import t from 'tap';
import { startController } from '../../helpers/controller-process.ts';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import { BOOT_LINE } from '../../helpers/guest.ts';
import { waitFor } from '../../helpers/wait.ts';

t.test(
  'a VM launched through the CLI becomes running and its console shows it booted (CLI, --json and REST)',
  async (t) => {
    const c = await startController();
    t.teardown(() => c.cleanup());
    await c.agent('hv-real');
    const image = await uploadTestGuest(c);

    const created = await c.cli(['vm', 'create', 'web', '--type', 'm1.small', '--image', 'guest', '--wait', '--json']);
    t.equal(created.code, 0, `vm create: ${created.stderr}`);
    const vm = JSON.parse(created.stdout).items[0];
    t.equal(vm.state, 'running');
    t.equal(vm.host, 'hv-real');
    t.equal(vm.image, image);

    const line = await waitFor(
      'the boot line through the CLI',
      async () => {
        const r = await c.cli(['vm', 'console', vm.id]);
        return r.code === 0 && r.stdout.includes(BOOT_LINE) ? r.stdout : undefined;
      },
      90_000,
      500,
    );
    t.match(line, /STRATUS-GUEST-BOOTED/);

    const shown = await c.request('GET', `/v1/vms/${vm.id}`);
    t.equal(shown.status, 200);
    t.equal(shown.body.state, 'running');
    t.same(
      shown.body.events.map((e: { to: string }) => e.to),
      ['pending', 'scheduled', 'deploying', 'running'],
      'the state machine recorded every step',
    );
    t.ok(
      shown.body.events.every((e: { reason: string }) => e.reason.length > 0),
      'every transition has a reason',
    );
    const table = await c.cli(['vm', 'list']);
    t.match(table.stdout, /ID\s+NAME\s+STATE/);
    t.match(table.stdout, new RegExp(`${vm.id}\\s+web\\s+running\\s+hv-real`));

    const stopped = await c.cli(['vm', 'stop', vm.id, '--force', '--json']);
    t.equal(JSON.parse(stopped.stdout).state, 'stopped');
    const started = await c.cli(['vm', 'start', vm.id, '--json']);
    t.equal(JSON.parse(started.stdout).state, 'running');
    const deleted = await c.cli(['vm', 'delete', vm.id]);
    t.equal(deleted.code, 0);
    t.equal((await c.request('GET', `/v1/vms/${vm.id}`)).status, 404, 'gone after delete');
    const onHost = await c.request('GET', '/v1/hosts/hv-real');
    t.equal(onHost.body.usedVcpus, 0, 'its capacity is released');
  },
);
