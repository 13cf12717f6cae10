// Migration in the two-host lab (docs/lab.md): real controller, two real agents, two libvirtd, QEMU under TCG.
// A running guest that counts keeps counting across a live migration and its overlay's data moves with it;
// a stopped VM moves cold; failures (bad target, migration ports refused) leave the VM running on its
// source and nothing on the target; a VM with snapshots is refused; a migration can be cancelled; a
// migration that completes while the target's agent is dead is settled by that agent when it is back;
// a host with three VMs is evacuated. After each failure path the invariant checker of the fault suite
// (test/faults/invariants.ts, through test/helpers/lab-world.ts) finds nothing.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';

t.setTimeout(1_200_000);
import type { AgentHandle } from '../../helpers/agent-process.ts';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import { ioRounds, type LabSite, startLabSite, withPortsRefused } from '../../helpers/lab-site.ts';
import { expectNoViolations } from '../../helpers/lab-world.ts';
import { waitFor } from '../../helpers/wait.ts';

const GUEST_OPTS =
  'stratus.dhcp=0 stratus.marker_write=before-migration stratus.io_probe=/dev/vda stratus.io_probe_s=0.2';

let site: LabSite;

const other = (host: string) => site.other(host);
const agentOf = (host: string) => site.agentOf(host);
const consoleText = (host: string, vm: string) => site.consoleText(host, vm);
const lastCount = (text: string) => ioRounds(text);
const domains = (host: string) => site.domains(host);
const overlayDir = (host: string, vm: string) => join(agentOf(host).dir, 'state', 'instances', vm);

interface TestVm {
  id: string;
  host: string;
}
let vms: TestVm[] = [];
const hostOf = async (vm: TestVm) => {
  vm.host = (await site.c.request('GET', `/v1/vms/${vm.id}`)).body.host;
  return vm.host;
};
const counting = (vm: TestVm, above = 3) =>
  waitFor(`${vm.id} counting on ${vm.host}`, () => lastCount(consoleText(vm.host, vm.id)) >= above, 120_000, 250);

// three guests boot at once (TCG boots are the slow part); the tests share them
t.before(async () => {
  site = await startLabSite();
  await uploadTestGuest(site.c, 'guest', GUEST_OPTS);
  const r = await site.c.cli([
    'vm',
    'create',
    'mig',
    '--type',
    'm1.small',
    '--image',
    'guest',
    '--count',
    '3',
    '--wait',
    '--json',
  ]);
  if (r.code !== 0) throw new Error(`vm create: ${r.stderr}`);
  vms = JSON.parse(r.stdout).items.map((v: TestVm) => ({ id: v.id, host: v.host }));
  for (const vm of vms) await counting(vm);
});
// agents started again by a test: the controller handle does not know them
const restartedAgents: AgentHandle[] = [];
t.teardown(async () => {
  await site?.cleanup();
  for (const a of restartedAgents) await a.kill();
});

t.test('a running guest live-migrates through the CLI: it keeps counting and its overlay data moves', async (t) => {
  const vm = vms[0]!;
  const from = vm.host;
  const to = other(from);
  const r = await site.c.cli(['vm', 'migrate', vm.id, '--json']);
  t.equal(r.code, 0, `vm migrate: ${r.stderr}`);
  const m = JSON.parse(r.stdout);
  t.match(m, { vm: vm.id, from, to, live: true });
  const shown = await site.c.request('GET', `/v1/vms/${vm.id}`);
  t.match(shown.body, { state: 'running', host: to });
  t.match(shown.body.events.at(-1).reason, `migrated from ${from} to ${to}`);
  t.notOk((await domains(from)).includes(vm.id), 'no domain left on the source');
  t.ok((await domains(to)).includes(vm.id), 'the domain runs on the target');
  t.notOk(existsSync(overlayDir(from, vm.id)), 'the source overlay is removed');
  t.ok(existsSync(overlayDir(to, vm.id)), 'the target has the overlay');
  const before = lastCount(consoleText(from, vm.id));
  await waitFor('the counter to go on on the target', () => lastCount(consoleText(to, vm.id)) > before + 3, 60_000);
  t.match(consoleText(to, vm.id), /STRATUS-IO vda ok \d+ before-migration/, 'data written on the source is read');
  // and back again, to a named host; the CLI shows progress on stderr
  const back = await site.c.cli(['vm', 'migrate', vm.id, '--host', from]);
  t.equal(back.code, 0, back.stderr);
  t.match(back.stdout, `live-migrated from ${to} to ${from}`);
  t.match(back.stderr, `migrating to ${from}`);
  t.notOk((await domains(to)).includes(vm.id), 'nothing left on the second source');
  vm.host = from;
});

t.test('bad targets and VMs with snapshots are refused before anything moves', async (t) => {
  const vm = vms[0]!;
  const self = await site.c.request('POST', `/v1/vms/${vm.id}/migrate`, { host: vm.host });
  t.equal(self.status, 409);
  t.match(self.body.detail ?? self.body.title, /already runs/);
  const none = await site.c.cli(['vm', 'migrate', vm.id, '--host', 'no-such-host']);
  t.not(none.code, 0);
  t.match(none.stderr, /no-such-host/);
  const user = await site.c.request('POST', `/v1/vms/${vm.id}/migrate`, {}, 'st_not_a_token');
  t.equal(user.status, 401, 'anonymous callers cannot move VMs');
  // a disabled host does not pass the scheduler's filters
  await site.c.cli(['host', 'disable', other(vm.host)]);
  const disabled = await site.c.cli(['vm', 'migrate', vm.id]);
  t.not(disabled.code, 0);
  t.match(disabled.stderr, /no host can take/);
  await site.c.cli(['host', 'enable', other(vm.host)]);
  const snap = await site.c.cli(['snapshot', 'create', vm.id, '--name', 's1']);
  t.equal(snap.code, 0, snap.stderr);
  const withSnap = await site.c.cli(['vm', 'migrate', vm.id]);
  t.not(withSnap.code, 0);
  t.match(withSnap.stderr, /snapshot/);
  t.notOk((await domains(other(vm.host))).includes(vm.id), 'nothing was prepared on the target');
  t.notOk(existsSync(overlayDir(other(vm.host), vm.id)));
  t.equal((await site.c.cli(['snapshot', 'delete', vm.id, 's1'])).code, 0);
});

t.test(
  'a migration whose data ports are refused leaves the VM running on the source, nothing on the target',
  async (t) => {
    const vm = vms[0]!;
    const to = other(vm.host);
    // inside the target's namespace only: libvirtd answers, QEMU's migration and NBD ports refuse
    const r = await withPortsRefused(site.lab, site.labHostOf(to), [], () => site.c.cli(['vm', 'migrate', vm.id]));
    t.not(r.code, 0, 'the migration fails');
    t.match(r.stderr, /migration of VM .* failed/);
    t.match((await site.c.request('GET', `/v1/vms/${vm.id}`)).body, { state: 'running', host: vm.host });
    t.ok((await domains(vm.host)).includes(vm.id), 'the VM is still on the source');
    t.match(await site.labHostOf(vm.host).virsh('domstate', vm.id), /running/);
    t.notOk((await domains(to)).includes(vm.id), 'no domain on the target');
    t.notOk(existsSync(overlayDir(to, vm.id)), 'no overlay on the target');
    const before = lastCount(consoleText(vm.host, vm.id));
    await waitFor(
      'the guest to keep counting on the source',
      () => lastCount(consoleText(vm.host, vm.id)) > before + 2,
    );
    await expectNoViolations(
      t,
      site,
      vms.map((v) => v.id),
    );
  },
);

t.test('a slow migration can be cancelled: the VM stays running on its source, nothing on the target', async (t) => {
  const vm = vms[0]!;
  const to = other(vm.host);
  const bad = await site.c.cli(['vm', 'migrate', vm.id, '--bandwidth', 'fast']);
  t.equal(bad.code, 2, 'a bandwidth that is not a number is a usage error');
  const moving = site.c.cli(['vm', 'migrate', vm.id, '--bandwidth', '1']);
  await waitFor(
    'the migration job running',
    async () => /: migrating/.test((await site.c.request('GET', `/v1/vms/${vm.id}`)).body.reason ?? ''),
    120_000,
    200,
  );
  const c = await site.c.cli(['vm', 'migrate', vm.id, '--cancel', '--json']);
  t.equal(c.code, 0, c.stderr);
  t.match(JSON.parse(c.stdout), { vm: vm.id, cancelled: true });
  const r = await moving;
  t.not(r.code, 0, 'the migration ends in failure');
  t.match(r.stderr, /migration of VM .* failed/);
  t.match((await site.c.request('GET', `/v1/vms/${vm.id}`)).body, { state: 'running', host: vm.host });
  t.notOk((await domains(to)).includes(vm.id), 'no domain on the target');
  t.notOk(existsSync(overlayDir(to, vm.id)), 'no overlay on the target');
  const before = lastCount(consoleText(vm.host, vm.id));
  await waitFor('the guest to keep counting on the source', () => lastCount(consoleText(vm.host, vm.id)) > before + 2);
  const none = await site.c.cli(['vm', 'migrate', vm.id, '--cancel']);
  t.not(none.code, 0, 'nothing to cancel');
  t.match(none.stderr, /not being migrated/);
  await expectNoViolations(
    t,
    site,
    vms.map((v) => v.id),
  );
});

t.test('a stopped VM moves cold and starts on its new host with its data', async (t) => {
  const vm = vms[1]!;
  const stop = await site.c.cli(['vm', 'stop', vm.id, '--force']);
  t.equal(stop.code, 0, stop.stderr);
  const from = vm.host;
  const to = other(from);
  const r = await site.c.cli(['vm', 'migrate', vm.id, '--json']);
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { from, to, live: false });
  t.match((await site.c.request('GET', `/v1/vms/${vm.id}`)).body, { state: 'stopped', host: to });
  t.notOk((await domains(from)).includes(vm.id), 'no domain left on the source');
  t.notOk(existsSync(overlayDir(from, vm.id)), 'no overlay left on the source');
  t.match(await site.labHostOf(to).virsh('domstate', vm.id), /shut off/);
  vm.host = to;
  const start = await site.c.cli(['vm', 'start', vm.id]);
  t.equal(start.code, 0, start.stderr);
  await waitFor(
    'the marker found at boot on the target',
    () => /STRATUS-MARKER-FOUND before-migration/.test(consoleText(to, vm.id)),
    120_000,
  );
  await counting(vm, 1);
});

t.test('evacuating a host with three VMs moves them all, disables it; host enable brings it back', async (t) => {
  const a = site.hostIds['a']!;
  const b = site.hostIds['b']!;
  for (const vm of vms) {
    if ((await hostOf(vm)) !== a) {
      const m = await site.c.cli(['vm', 'migrate', vm.id, '--host', a]);
      t.equal(m.code, 0, `placing ${vm.id} on ${a}: ${m.stderr}`);
      vm.host = a;
    }
  }
  t.equal((await domains(a)).length, 3, 'three VMs on host a');
  const r = await site.c.cli(['host', 'evacuate', a, '--json']);
  t.equal(r.code, 0, r.stderr);
  const ev = JSON.parse(r.stdout);
  t.equal(ev.moved.length, 3);
  t.same(ev.failed, []);
  t.ok(ev.moved.every((m: { to: string; live: boolean }) => m.to === b && m.live));
  t.same(await domains(a), [], 'host a is empty');
  t.equal((await domains(b)).length, 3);
  t.equal((await site.c.request('GET', `/v1/hosts/${a}`)).body.enabled, false, 'host a is disabled');
  for (const vm of vms) {
    const before = lastCount(consoleText(a, vm.id));
    t.equal(await hostOf(vm), b);
    await waitFor('each guest counting on b', () => lastCount(consoleText(b, vm.id)) > before + 1, 60_000);
  }
  const en = await site.c.cli(['host', 'enable', a]);
  t.equal(en.code, 0);
  t.equal((await site.c.request('GET', `/v1/hosts/${a}`)).body.enabled, true);
});

t.test(
  'the target agent killed mid-migration: the VM ends on the target, settled when its agent is back',
  async (t) => {
    const vm = vms[2]!;
    await waitFor('both hosts up', async () => {
      const hosts = (await site.c.request('GET', '/v1/hosts')).body.items as { id: string; up: boolean }[];
      return Object.values(site.hostIds).every((h) => hosts.some((x) => x.id === h && x.up));
    });
    const from = await hostOf(vm);
    const to = other(from);
    const name = to === site.hostIds['a'] ? 'a' : 'b';
    const moving = site.c.cli(['vm', 'migrate', vm.id, '--bandwidth', '10']);
    await waitFor(
      'the migration job running',
      async () => /: migrating/.test((await site.c.request('GET', `/v1/vms/${vm.id}`)).body.reason ?? ''),
      120_000,
      200,
    );
    // libvirt carries the migration on without the agents; the target's cannot confirm it
    await site.agents[name]!.kill('SIGKILL');
    const r = await moving;
    if (r.code !== 0) t.match(r.stderr, /moved to .* did not confirm|migration of VM .* failed/, r.stderr);
    const restarted = await site.agents[name]!.restart();
    site.agents[name] = restarted;
    restartedAgents.push(restarted);
    await restarted.waitReady(60_000);
    await waitFor(
      'the VM running on the target in the controller',
      async () => {
        const v = (await site.c.request('GET', `/v1/vms/${vm.id}`)).body;
        return v.state === 'running' && v.host === to;
      },
      120_000,
      500,
    );
    vm.host = to;
    t.ok((await domains(to)).includes(vm.id), 'the domain is on the target');
    t.notOk((await domains(from)).includes(vm.id), 'and not on the source');
    const before = lastCount(consoleText(to, vm.id));
    await waitFor('the guest counting on the target', () => lastCount(consoleText(to, vm.id)) > before + 2, 60_000);
    for (const each of vms) {
      await waitFor(
        `${each.id} running again`,
        async () => (await site.c.request('GET', `/v1/vms/${each.id}`)).body.state === 'running',
        120_000,
        500,
      );
    }
    await expectNoViolations(
      t,
      site,
      vms.map((v) => v.id),
    );
  },
);
