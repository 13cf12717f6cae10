// libvirtd and the controller killed at bad moments, in the two-host lab (docs/lab.md), on real libvirtd and
// QEMU under TCG. Whatever happens, a VM ends running in exactly one place, the controller says where, and
// its guest keeps counting, and the invariant checker of the fault suite finds nothing after each case:
// - libvirtd killed just after a new VM's domain was defined (a deploy cut in the middle): the agent
//   finishes or undoes its create once libvirt is back, and the deploy completes once;
// - libvirtd killed on the source or on the target in the middle of a live migration: the VM stays on its
//   source with nothing on the target;
// - the source's agent killed in the middle of a migration: libvirt carries the move on; the agent, back,
//   settles it from its journal and answers the controller's command again;
// - the controller killed in the middle of a migration: once back it finds the VM where libvirt put it (the
//   target finishes a completed move by itself).

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import type { AgentHandle } from '../../helpers/agent-process.ts';
import type { ControllerHandle } from '../../helpers/controller-process.ts';
import { killLabLibvirtd, startLabLibvirtd } from '../../helpers/lab.ts';
import { ioRounds, type LabSite, startLabSite } from '../../helpers/lab-site.ts';
import { expectNoViolations } from '../../helpers/lab-world.ts';
import { waitFor } from '../../helpers/wait.ts';

t.setTimeout(900_000);

const GUEST_OPTS = 'stratus.dhcp=0 stratus.io_probe=/dev/vda stratus.io_probe_s=0.2';

let site: LabSite;
let vm = '';
const restarted: ControllerHandle[] = [];
const agentsRestarted: AgentHandle[] = [];

const other = (host: string) => site.other(host);
const agentDir = (host: string) => site.agentOf(host).dir;
const consoleText = (host: string) => site.consoleText(host, vm);
const lastCount = (text: string) => ioRounds(text);
const domains = (host: string) => site.domains(host);
/** Every VM the tests made (the checker matches stray artifacts against them). */
const known: string[] = [];
const shown = async () => (await site.c.request('GET', `/v1/vms/${vm}`)).body;

/** Both hosts up, the VM running where the controller says, and its guest counting there. */
async function settledOn(host: string): Promise<void> {
  await waitFor(
    `the VM running on ${host} in the controller`,
    async () => {
      const v = await shown();
      return v.state === 'running' && v.host === host;
    },
    180_000,
    500,
  );
  await waitFor('the domain only on its host', async () => {
    const here = await domains(host);
    const there = await domains(other(host));
    return here.includes(vm) && !there.includes(vm);
  });
  const before = lastCount(consoleText(host));
  await waitFor('the guest counting', () => lastCount(consoleText(host)) > before + 2, 60_000);
}

const migrationRunning = () =>
  waitFor('the migration job running', async () => /: migrating/.test((await shown()).reason ?? ''), 120_000, 200);

t.before(async () => {
  site = await startLabSite();
  await uploadTestGuest(site.c, 'guest', GUEST_OPTS);
  const r = await site.c.cli(['vm', 'create', 'mf', '--type', 'm1.small', '--image', 'guest', '--wait', '--json']);
  if (r.code !== 0) throw new Error(`vm create: ${r.stderr}`);
  vm = JSON.parse(r.stdout).items[0].id;
  known.push(vm);
  await settledOn((await shown()).host);
});
t.teardown(async () => {
  // a failure is explained by the daemons' logs: kept in the test's output directory
  if (!t.passing() && site) {
    const dir = join('.tap', 'daemon-logs', 'lab-faults');
    mkdirSync(dir, { recursive: true });
    for (const [h, a] of Object.entries(site.agents)) writeFileSync(join(dir, `agent-${h}.log`), a.output());
    writeFileSync(join(dir, 'controller.log'), site.c.output());
  }
  for (const c of restarted) await c.kill('SIGTERM');
  for (const a of agentsRestarted) await a.kill();
  await site?.cleanup();
});

t.test(
  'libvirtd killed just after a new domain is defined: the VM ends running once, where the controller says',
  async (t) => {
    const r = await site.c.request('POST', '/v1/vms', { name: 'cut', type: 'm1.small', image: 'guest' });
    t.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.items[0].id as string;
    known.push(id);
    // the first sight of the domain on either host: defined, maybe started
    let on: string | undefined;
    await waitFor(
      'the domain defined',
      async () => {
        for (const h of Object.values(site.hostIds)) if ((await domains(h)).includes(id)) on = h;
        return on !== undefined;
      },
      180_000,
      20,
    );
    await killLabLibvirtd(site.labHostOf(on!));
    await new Promise((r) => setTimeout(r, 2000));
    await startLabLibvirtd(site.lab, site.labHostOf(on!));
    await waitFor(
      'the VM running in the controller',
      async () => (await site.c.request('GET', `/v1/vms/${id}`)).body.state === 'running',
      180_000,
      500,
    );
    const host = (await site.c.request('GET', `/v1/vms/${id}`)).body.host as string;
    t.ok((await domains(host)).includes(id), 'its domain is where the controller says');
    t.notOk((await domains(other(host))).includes(id), 'and nowhere else');
    t.match(await site.labHostOf(host).virsh('domstate', id), /running/);
    const agent = host === site.hostIds['a'] ? site.agents['a']! : site.agents['b']!;
    const listed = await agent.request('GET', '/v1/vms');
    t.equal(listed.body.items.filter((v: { id: string }) => v.id === id).length, 1, 'its agent has one record of it');
    const del = await site.c.cli(['vm', 'delete', id]);
    t.equal(del.code, 0, del.stderr);
    await waitFor('the domain gone', async () => !(await domains(host)).includes(id));
    await expectNoViolations(t, site, known);
  },
);

t.test('libvirtd killed on the source mid-migration: the VM stays on the source, nothing on the target', async (t) => {
  const from = (await shown()).host as string;
  const to = other(from);
  const moving = site.c.cli(['vm', 'migrate', vm, '--bandwidth', '10']);
  await migrationRunning();
  await killLabLibvirtd(site.labHostOf(from));
  await new Promise((r) => setTimeout(r, 2000));
  await startLabLibvirtd(site.lab, site.labHostOf(from));
  const r = await moving;
  t.not(r.code, 0, 'the migration is reported failed');
  t.match(r.stderr, /migration of VM .* (failed|interrupted)/);
  await settledOn(from);
  t.notOk(existsSync(join(agentDir(to), 'state', 'instances', vm)), 'no overlay on the target');
  await expectNoViolations(t, site, known);
});

t.test('libvirtd killed on the target mid-migration: the VM stays on the source, nothing on the target', async (t) => {
  const from = (await shown()).host as string;
  const to = other(from);
  const moving = site.c.cli(['vm', 'migrate', vm, '--bandwidth', '10']);
  await migrationRunning();
  await killLabLibvirtd(site.labHostOf(to));
  await new Promise((r) => setTimeout(r, 2000));
  await startLabLibvirtd(site.lab, site.labHostOf(to));
  const r = await moving;
  t.not(r.code, 0, 'the migration is reported failed');
  t.match(r.stderr, /migration of VM .* failed/);
  await settledOn(from);
  await waitFor(
    'the preparation removed from the target',
    () => !existsSync(join(agentDir(to), 'state', 'instances', vm)),
  );
  await expectNoViolations(t, site, known);
});

t.test("the source's agent killed mid-migration: back, it settles the move; the VM runs once", async (t) => {
  const from = (await shown()).host as string;
  const to = other(from);
  const name = from === site.hostIds['a'] ? 'a' : 'b';
  const moving = site.c.cli(['vm', 'migrate', vm, '--bandwidth', '20']);
  await migrationRunning();
  await site.agents[name]!.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 1000));
  const back = await site.agents[name]!.restart();
  site.agents[name] = back;
  agentsRestarted.push(back);
  const r = await moving;
  t.equal(r.code, 0, `the migration completes: ${r.stderr}`);
  await settledOn(to);
  t.notOk(existsSync(join(agentDir(from), 'state', 'instances', vm)), 'nothing left of it on the source');
  await expectNoViolations(t, site, known);
});

t.test('the controller killed mid-migration: once back it finds the VM where libvirt put it', async (t) => {
  const from = (await shown()).host as string;
  const to = other(from);
  const moving = site.c.cli(['vm', 'migrate', vm, '--bandwidth', '20']);
  await migrationRunning();
  await site.c.kill('SIGKILL');
  await moving;
  // libvirt carries the move on without the controller; the target finishes it by itself
  await waitFor('the domain to leave the source', async () => !(await domains(from)).includes(vm), 180_000, 500);
  const c = await site.c.restart();
  restarted.push(c);
  site.c = c;
  await settledOn(to);
  t.pass('the VM runs on the target only, as the controller says');
  t.notOk(existsSync(join(agentDir(from), 'state', 'instances', vm)), 'nothing left of it on the source');
  await expectNoViolations(t, site, known);
});
