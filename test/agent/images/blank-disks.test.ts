// Blank disks (volatile disks, the type's swap) through a real agent process and real libvirtd: the agent
// makes them as sparse qcow2 files next to the VM's overlays with the size asked for and no backing file,
// the domain gets them as virtio disks with their serials, the host reports the instance directory's
// disk, and they are gone after delete, after a create
// that failed once they were made, and after recovery from a crash right after they were made.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startAgent } from '../../helpers/agent-process.ts';
import { guestSpec } from '../../helpers/guest.ts';
import { virsh } from '../../helpers/libvirtd.ts';

const qemuInfo = (path: string) =>
  JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', path], { encoding: 'utf8' })) as Record<
    string,
    unknown
  >;

const blanks = [
  { blank: 'volatile' as const, sizeMiB: 1024, serial: 'stratus-volatile-1' },
  { blank: 'swap' as const, sizeMiB: 64, serial: 'stratus-swap' },
];

t.test(
  'blank disks are sparse qcow2 files of the asked size, virtio disks with serials, removed on delete',
  async (t) => {
    const agent = await startAgent();
    t.teardown(() => agent.cleanup());
    await agent.waitReady();
    const spec = guestSpec({ name: 'blanks', disks: blanks });
    const r = await agent.request('POST', '/v1/vms', { spec, start: false });
    t.equal(r.status, 201, r.body.title ?? 'created');
    const dir = join(agent.dir, 'state/instances', spec.id);
    for (const [i, d] of blanks.entries()) {
      const info = qemuInfo(join(dir, `disk${i}.qcow2`));
      t.equal(info['format'], 'qcow2', `disk${i}: qcow2`);
      t.equal(info['virtual-size'], d.sizeMiB * 1024 * 1024, `disk${i}: ${d.sizeMiB} MiB`);
      t.notOk(info['backing-filename'], `disk${i}: no backing file`);
      t.ok(Number(info['actual-size']) < 1024 * 1024, `disk${i}: sparse`);
    }
    const host = (await agent.request('GET', '/v1/host')).body;
    t.equal(host.disk.path, join(agent.dir, 'state/instances'), 'the host reports the instance directory');
    t.ok(host.disk.freeBytes > 0 && host.disk.totalBytes >= host.disk.freeBytes, 'with its file system size and free');
    t.ok(host.disk.instanceBytes < 64 * 1024 * 1024, 'the sparse disks take next to nothing yet');
    const xml = virsh('dumpxml', `stratus-${spec.id}`);
    t.match(
      xml,
      new RegExp(
        `<source file='${dir}/disk0.qcow2'/>\\s*<target dev='vda' bus='virtio'/>\\s*<serial>stratus-volatile-1</serial>`,
      ),
    );
    t.match(
      xml,
      new RegExp(
        `<source file='${dir}/disk1.qcow2'/>\\s*<target dev='vdb' bus='virtio'/>\\s*<serial>stratus-swap</serial>`,
      ),
    );
    t.equal((await agent.request('DELETE', `/v1/vms/${spec.id}`)).status, 204);
    t.notOk(existsSync(dir), 'the blank disks are deleted with the VM');
  },
);

t.test('a create that fails after its blank disks were made removes them', async (t) => {
  const agent = await startAgent();
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const spec = guestSpec({ name: 'blank-fails', machine: 'no-such-machine', disks: blanks });
  const r = await agent.request('POST', '/v1/vms', { spec });
  t.ok(r.status >= 400, `refused: ${r.body.title}`);
  t.match(agent.output(), /blank disk created/, 'the blank disks had been made');
  t.notOk(existsSync(join(agent.dir, 'state/instances', spec.id)), 'no blank disk left');
});

t.test('an agent killed right after making the blank disks removes them when it recovers', async (t) => {
  let agent = await startAgent({ env: { STRATUS_TEST_FAULTS: '1', STRATUS_TEST_CRASH_AT: 'create:after-disks' } });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const spec = guestSpec({ name: 'blank-crash', disks: blanks });
  const proc = agent.proc;
  const exited = new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r(0) : proc.once('exit', r)));
  await agent.request('POST', '/v1/vms', { spec }).catch(() => undefined);
  await exited;
  t.equal(proc.signalCode, 'SIGKILL', 'the agent was killed after the disks step');
  const dir = join(agent.dir, 'state/instances', spec.id);
  t.same(readdirSync(dir).sort(), ['disk0.qcow2', 'disk1.qcow2'], 'the blank disks were there at the crash');
  agent = await startAgent({ dir: agent.dir });
  await agent.waitReady();
  t.notOk(existsSync(dir), 'recovery undid the create and removed the blank disks');
  t.equal((await agent.request('GET', `/v1/vms/${spec.id}`)).status, 404, 'no record left');
});
