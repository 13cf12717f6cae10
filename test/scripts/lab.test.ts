// The two-host lab (test/helpers/lab.ts, `npm run lab`): two libvirtd with their own identity and files,
// joined only inside their namespaces; a guest live-migrates between them with its overlay; teardown, and
// the sweep of a lab whose owner died, leave nothing behind.

import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { testGuest } from '../helpers/guest.ts';
import { LAB_LIB_ROOT, LAB_RUN_ROOT, type Lab, type LabHost, labUp, sweepStaleLabs } from '../helpers/lab.ts';
import { waitFor } from '../helpers/wait.ts';

const run = promisify(execFile);

function domainXml(host: LabHost, name: string, uuid: string): string {
  const g = testGuest();
  return `<domain type='qemu'><name>${name}</name><uuid>${uuid}</uuid><memory unit='MiB'>128</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><kernel>${g.kernel}</kernel><initrd>${g.initrd}</initrd>
<cmdline>console=ttyS0 quiet panic=-1 stratus.dhcp=0 stratus.marker_write=lab-${name} stratus.io_probe=/dev/vda stratus.io_probe_s=0.2</cmdline></os>
<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${host.dir}/agent/${name}.qcow2'/><target dev='vda' bus='virtio'/></disk>
<serial type='pty'><log file='${host.dir}/console/${name}.log' append='on'/><target port='0'/></serial><console type='pty'/>
</devices></domain>`;
}

function overlay(host: LabHost, name: string): void {
  execFileSync('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-F',
    'qcow2',
    '-b',
    testGuest().disk,
    `${host.dir}/agent/${name}.qcow2`,
  ]);
}

const consoleOf = (host: LabHost, name: string) => {
  try {
    return readFileSync(`${host.dir}/console/${name}.log`, 'utf8');
  } catch {
    return '';
  }
};
const lastCount = (text: string) =>
  Math.max(0, ...[...text.matchAll(/STRATUS-IO vda ok (\d+)/g)].map((m) => Number(m[1])));

async function define(host: LabHost, name: string, uuid: string): Promise<void> {
  const file = join(host.dir, `${name}.xml`);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, domainXml(host, name, uuid));
  await host.virsh('define', file);
}

const qemuRunning = (name: string) => {
  try {
    execFileSync('pgrep', ['-f', `guest=${name}`]);
    return true;
  } catch {
    return false;
  }
};

t.test('two lab hosts: own host UUIDs and files, reachable from each other only inside the namespaces', async (t) => {
  const lab = await labUp();
  t.teardown(() => lab.down());
  const [a, b] = lab.hosts as [LabHost, LabHost];
  const uuid = async (h: LabHost) => /<uuid>([^<]+)<\/uuid>/.exec(await h.virsh('capabilities'))?.[1];
  const [ua, ub] = [await uuid(a), await uuid(b)];
  t.ok(ua && ub && ua !== ub, 'distinct host_uuid');
  t.notOk((await run('virsh', ['-c', 'qemu:///system', 'capabilities'])).stdout.includes(`<uuid>${ua}</uuid>`));
  t.ok(existsSync(join(a.runDir, 'libvirt', 'virtlogd-sock')), 'host a has its own virtlogd');
  // a reaches b's libvirtd over the lab link
  const peer = await run('ip', ['netns', 'exec', a.ns, 'virsh', '-c', b.peerUri, 'capabilities']);
  t.match(peer.stdout, `<uuid>${ub}</uuid>`);
  // the lab link and its addresses do not exist outside the namespaces
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
  t.notMatch(links, new RegExp(`\\b${a.dev}\\b|\\b${b.dev}\\b`));
  t.notMatch((await run('ip', ['-o', 'addr', 'show'])).stdout, /10\.250\.0\./);
});

t.test('a running guest live-migrates from lab host a to b with its overlay and keeps counting', async (t) => {
  const lab: Lab = await labUp();
  t.teardown(() => lab.down());
  const [a, b] = lab.hosts as [LabHost, LabHost];
  const name = `lab-${lab.tag}`;
  const uuid = randomUUID();
  overlay(a, name);
  overlay(b, name);
  await define(a, name, uuid);
  await a.virsh('start', name);
  await waitFor('the guest counting on a', () => lastCount(consoleOf(a, name)) >= 3, 90_000);
  const { writeFileSync } = await import('node:fs');
  const destXml = join(b.dir, 'dest.xml');
  writeFileSync(destXml, domainXml(b, name, uuid));
  await run('ip', [
    'netns',
    'exec',
    a.ns,
    'virsh',
    '-c',
    a.peerUri,
    'migrate',
    '--live',
    '--p2p',
    '--persistent',
    '--undefinesource',
    '--copy-storage-inc',
    '--migrate-disks',
    'vda',
    '--xml',
    destXml,
    name,
    b.peerUri,
    b.migrateUri,
  ]);
  t.equal((await a.virsh('list', '--all', '--name')).trim(), '', 'nothing left on a');
  t.match(await b.virsh('domstate', name), /running/);
  const before = lastCount(consoleOf(a, name));
  await waitFor('the counter to go on on b', () => lastCount(consoleOf(b, name)) > before + 2, 60_000);
  t.match(consoleOf(b, name), new RegExp(`STRATUS-IO vda ok \\d+ lab-${name}`), 'the marker written on a is read on b');
});

t.test('a lab whose owner died is swept with its domains, processes, namespaces, cgroups and files', async (t) => {
  const lab = await labUp();
  t.teardown(() => lab.down());
  const [a] = lab.hosts as [LabHost];
  const name = `lab-${lab.tag}`;
  overlay(a, name);
  await define(a, name, randomUUID());
  await a.virsh('start', name);
  t.ok(qemuRunning(name), 'QEMU runs in the lab');
  const { writeFileSync } = await import('node:fs');
  const dead = execFileSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim();
  writeFileSync(join(LAB_RUN_ROOT, lab.tag, 'owner'), dead);
  const swept = await sweepStaleLabs();
  t.ok(swept.includes(lab.tag), 'the lab was swept');
  t.notOk(qemuRunning(name), 'no QEMU left');
  t.notMatch((await run('ip', ['netns', 'list'])).stdout, `slab-${lab.tag}-`);
  t.notOk(existsSync(join(LAB_RUN_ROOT, lab.tag)) || existsSync(join(LAB_LIB_ROOT, lab.tag)), 'no files left');
  const cg = execFileSync('find', ['/sys/fs/cgroup', '-maxdepth', '5', '-name', `stratus-lab-${lab.tag}-*`], {
    encoding: 'utf8',
  });
  t.equal(cg.trim(), '', 'no cgroup left');
});
