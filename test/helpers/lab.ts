// A two-host lab on one machine (docs/lab.md): two extra libvirtd instances, each in its own network and
// mount namespace with its own /run (so its own /run/libvirt), /var/lib/libvirt, /etc/libvirt (own
// host_uuid; TCP without auth, listening only on its lab address), /var/log/libvirt, /var/cache/libvirt and
// its own virtlogd, each in its own cgroup, joined by a veth pair 10.250.0.1/24 <-> 10.250.0.2/24 that
// exists only inside the two namespaces. The shared libvirtd (qemu:///system) is never touched.
//
// Everything a lab makes carries its tag: namespaces `slab-<tag>-<h>`, links `sl<tag><h>`, cgroups
// `stratus-lab-<tag>-<h>`, files under /run/stratus-lab/<tag> and /var/lib/stratus-lab/<tag>.
// `labDown(tag)` removes all of it (domains, processes, namespaces, cgroups, files) whatever state a
// previous run left; `labUp` calls it first, and `sweepStaleLabs()` removes labs whose owner died.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
export const LAB_RUN_ROOT = '/run/stratus-lab';
export const LAB_LIB_ROOT = '/var/lib/stratus-lab';
const HOST_NAMES = ['a', 'b'] as const;
const TAG = /^[a-z0-9]{1,8}$/;

export interface LabHost {
  /** `a` or `b`. */
  name: string;
  /** Network namespace the host's libvirtd, virtlogd and QEMU processes live in. */
  ns: string;
  /** The host's address on the lab link (inside the namespaces only). */
  address: string;
  /** The veth end inside `ns`. */
  dev: string;
  /** Files of this host: lib/, etc/, log/, cache/ (bound over libvirt's), agent/, console/. */
  dir: string;
  /** The directory bound over /run inside the namespace (its libvirt-sock is reachable from outside). */
  runDir: string;
  /** URI for a process outside the namespaces (the host's agent): the unix socket under runDir. */
  uri: string;
  /** URI another lab host's libvirtd uses to reach this one (peer-to-peer migration). */
  peerUri: string;
  /** Migration data URI (QEMU stream and NBD) towards this host. */
  migrateUri: string;
  /** `virsh -c <uri> ...args` (stdout). */
  virsh: (...args: string[]) => Promise<string>;
}

export interface Lab {
  tag: string;
  hosts: LabHost[];
  down: () => Promise<void>;
}

const nsName = (tag: string, h: string) => `slab-${tag}-${h}`;
const devName = (tag: string, h: string) => `sl${tag}${h}`;
const cgName = (tag: string, h: string) => `stratus-lab-${tag}-${h}`;

export function labHost(tag: string, h: string, index: number): LabHost {
  const runDir = join(LAB_RUN_ROOT, tag, h);
  const uri = `qemu:///system?socket=${runDir}/libvirt/libvirt-sock`;
  const address = `10.250.0.${index + 1}`;
  return {
    name: h,
    ns: nsName(tag, h),
    address,
    dev: devName(tag, h),
    dir: join(LAB_LIB_ROOT, tag, h),
    runDir,
    uri,
    peerUri: `qemu+tcp://${address}/system`,
    migrateUri: `tcp://${address}`,
    virsh: async (...args) => (await run('virsh', ['-c', uri, ...args], { timeout: 30_000 })).stdout,
  };
}

export function randomTag(): string {
  return randomBytes(3).toString('hex');
}

async function quiet(cmd: string, args: string[], timeout = 20_000): Promise<string> {
  try {
    return (await run(cmd, args, { timeout })).stdout;
  } catch {
    return '';
  }
}

// ---- cgroups: one per lab host under this process's own placement, for every mounted hierarchy

interface CgroupDir {
  path: string;
  cpuset: boolean;
}

function cgroupDirs(name: string): CgroupDir[] {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2');
  const out: CgroupDir[] = [];
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [id, ctrls = '', placement = '/'] = line.split(':');
    let mount: string | undefined;
    if (id === '0' && ctrls === '') mount = mounts.find((f) => f[2] === 'cgroup2')?.[1];
    else {
      const want = ctrls.split(',');
      mount = mounts.find((f) => f[2] === 'cgroup' && want.every((c) => (f[3] ?? '').split(',').includes(c)))?.[1];
    }
    if (mount) out.push({ path: join(mount, placement, name), cpuset: ctrls.split(',').includes('cpuset') });
  }
  return out;
}

function makeCgroups(name: string): string[] {
  const procs: string[] = [];
  for (const d of cgroupDirs(name)) {
    try {
      mkdirSync(d.path, { recursive: true });
      if (d.cpuset) {
        for (const f of ['cpuset.cpus', 'cpuset.mems']) {
          writeFileSync(join(d.path, f), readFileSync(join(d.path, '..', f)));
        }
      }
      procs.push(join(d.path, 'cgroup.procs'));
    } catch {
      // a hierarchy we may not write: the host runs in its parent's cgroup there
    }
  }
  return procs;
}

function removeCgroupTree(path: string): void {
  if (!existsSync(path)) return;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.isDirectory()) removeCgroupTree(join(path, e.name));
  }
  try {
    rmdirSync(path);
  } catch {
    // still has processes (they are being killed) or not ours to remove
  }
}

// ---- teardown

async function nsPids(ns: string): Promise<number[]> {
  const out = await quiet('ip', ['netns', 'pids', ns]);
  return out.split('\n').filter(Boolean).map(Number);
}

async function killNamespace(ns: string): Promise<void> {
  for (const [signal, waitMs] of [
    ['SIGTERM', 5000],
    ['SIGKILL', 5000],
  ] as const) {
    const pids = await nsPids(ns);
    if (pids.length === 0) return;
    for (const p of pids) {
      try {
        process.kill(p, signal);
      } catch {
        // already gone
      }
    }
    const end = Date.now() + waitMs;
    while (Date.now() < end && (await nsPids(ns)).length > 0) await new Promise((r) => setTimeout(r, 100));
  }
}

/** Removes every trace of lab `tag`: domains, processes in its namespaces, namespaces, cgroups, files. */
export async function labDown(tag: string): Promise<void> {
  if (!TAG.test(tag)) throw new Error(`bad lab tag ${JSON.stringify(tag)}`);
  const existing = (await quiet('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0]);
  await Promise.all(
    HOST_NAMES.map(async (h, i) => {
      const host = labHost(tag, h, i);
      if (existsSync(join(host.runDir, 'libvirt', 'libvirt-sock'))) {
        const names = (await quiet('virsh', ['-c', host.uri, 'list', '--all', '--name'], 10_000))
          .split('\n')
          .filter(Boolean);
        for (const n of names) {
          await quiet('virsh', ['-c', host.uri, 'destroy', n], 10_000);
          await quiet('virsh', ['-c', host.uri, 'undefine', n, '--nvram', '--snapshots-metadata'], 10_000);
        }
      }
      if (existing.includes(host.ns)) {
        await killNamespace(host.ns);
        await quiet('ip', ['netns', 'del', host.ns]);
      }
      for (const d of cgroupDirs(cgName(tag, h))) removeCgroupTree(d.path);
    }),
  );
  rmSync(join(LAB_RUN_ROOT, tag), { recursive: true, force: true });
  rmSync(join(LAB_LIB_ROOT, tag), { recursive: true, force: true });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Tears down labs left by processes that died (a crashed test run); labs of live owners are kept. */
export async function sweepStaleLabs(): Promise<string[]> {
  if (!existsSync(LAB_RUN_ROOT)) return [];
  const swept: string[] = [];
  for (const tag of readdirSync(LAB_RUN_ROOT)) {
    if (!TAG.test(tag)) continue;
    let owner = '';
    try {
      owner = readFileSync(join(LAB_RUN_ROOT, tag, 'owner'), 'utf8').trim();
    } catch {
      // no owner file: a lab that crashed while starting
    }
    // a developer's lab (`npm run lab -- up`) stays until `npm run lab -- down`
    if (owner === 'detached' || (Number(owner) > 0 && pidAlive(Number(owner)))) continue;
    await labDown(tag);
    swept.push(tag);
  }
  return swept;
}

// ---- bring-up

function libvirtdConf(address: string): string {
  return [
    '# Stratus lab host: TCP without authentication, on the lab address only (never on a real host)',
    'listen_tls = 0',
    'listen_tcp = 1',
    `listen_addr = "${address}"`,
    'auth_tcp = "none"',
    'auth_unix_rw = "none"',
    `host_uuid = "${randomUUID()}"`,
    'log_outputs = "3:stderr"',
    '',
  ].join('\n');
}

function prepareFiles(host: LabHost): void {
  for (const d of ['lib', 'etc', 'log', 'cache', 'agent', 'console']) mkdirSync(join(host.dir, d), { recursive: true });
  mkdirSync(host.runDir, { recursive: true });
  mkdirSync(join(host.dir, 'etc', 'qemu'), { recursive: true });
  writeFileSync(join(host.dir, 'etc', 'libvirtd.conf'), libvirtdConf(host.address));
  for (const f of ['qemu.conf', 'virtlogd.conf', 'libvirt.conf']) {
    const src = join('/etc/libvirt', f);
    writeFileSync(join(host.dir, 'etc', f), existsSync(src) ? readFileSync(src) : '');
  }
}

async function makeLink(a: LabHost, b: LabHost): Promise<void> {
  await run('ip', ['netns', 'add', a.ns]);
  await run('ip', ['netns', 'add', b.ns]);
  await run('ip', ['link', 'add', a.dev, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns]);
  for (const h of [a, b]) {
    await run('ip', ['-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', h.dev]);
    await run('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up']);
    await run('ip', ['-n', h.ns, 'link', 'set', h.dev, 'up']);
  }
}

function startHost(host: LabHost, tag: string, detached: boolean): ChildProcess {
  const cgroups = makeCgroups(cgName(tag, host.name));
  const log = openSync(join(host.dir, 'libvirtd.log'), 'a');
  const child = spawn('sh', [join(root, 'scripts/lab/host-init.sh'), host.ns, host.dir, host.runDir], {
    stdio: ['ignore', log, log],
    detached,
    env: { ...process.env, LAB_CGROUP_PROCS: cgroups.join(' ') },
  });
  if (detached) child.unref();
  return child;
}

async function waitAnswering(host: LabHost, child: ChildProcess, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) break;
    try {
      await run('virsh', ['-c', host.uri, 'version'], { timeout: 5000 });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  let log = '';
  try {
    log = readFileSync(join(host.dir, 'libvirtd.log'), 'utf8').slice(-2000);
  } catch {
    // no log yet
  }
  throw new Error(`lab host ${host.name}: libvirtd did not answer on ${host.uri}\n${log}`);
}

/**
 * Brings lab `tag` up (after removing whatever an earlier run of the same tag left). `detached` keeps the
 * daemons running after this process exits (the `npm run lab` script); a test lab belongs to its process
 * and is swept by the next run if that process dies without `down()`.
 */
export async function labUp(opts: { tag?: string; detached?: boolean } = {}): Promise<Lab> {
  const tag = opts.tag ?? randomTag();
  if (!TAG.test(tag)) throw new Error(`bad lab tag ${JSON.stringify(tag)}: 1-8 of [a-z0-9]`);
  await sweepStaleLabs();
  await labDown(tag);
  const hosts = HOST_NAMES.map((h, i) => labHost(tag, h, i));
  const lab: Lab = { tag, hosts, down: () => labDown(tag) };
  try {
    mkdirSync(join(LAB_RUN_ROOT, tag), { recursive: true });
    writeFileSync(join(LAB_RUN_ROOT, tag, 'owner'), opts.detached ? 'detached' : String(process.pid));
    for (const h of hosts) prepareFiles(h);
    await makeLink(hosts[0]!, hosts[1]!);
    const children = hosts.map((h) => startHost(h, tag, opts.detached ?? false));
    await Promise.all(hosts.map((h, i) => waitAnswering(h, children[i]!, 60_000)));
    writeFileSync(
      join(LAB_RUN_ROOT, tag, 'lab.json'),
      `${JSON.stringify({ tag, hosts: hosts.map(({ virsh: _v, ...h }) => h) }, null, 2)}\n`,
    );
  } catch (err) {
    await labDown(tag);
    throw err;
  }
  return lab;
}

// ---- fault injection: a lab host's libvirtd killed and started again (QEMU processes live on)

async function nsProcess(ns: string, comm: string): Promise<number | undefined> {
  for (const pid of await nsPids(ns)) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm) return pid;
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** SIGKILLs lab host `host`'s libvirtd (its QEMU processes and virtlogd keep running). */
export async function killLabLibvirtd(host: LabHost): Promise<void> {
  const pid = await nsProcess(host.ns, 'slab-libvirtd');
  if (pid === undefined) throw new Error(`lab host ${host.name}: no libvirtd running`);
  process.kill(pid, 'SIGKILL');
  const end = Date.now() + 10_000;
  while (pidAlive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

/**
 * Starts lab host `host`'s libvirtd again in the host's own mount and network namespaces and cgroups (those
 * of its virtlogd), as host-init.sh did, and waits until it answers. It recovers the running domains.
 */
export async function startLabLibvirtd(lab: Lab, host: LabHost): Promise<void> {
  const logd = await nsProcess(host.ns, 'slab-virtlogd');
  if (logd === undefined) throw new Error(`lab host ${host.name}: no virtlogd to join`);
  const cgroups = makeCgroups(cgName(lab.tag, host.name));
  const log = openSync(join(host.dir, 'libvirtd.log'), 'a');
  const child = spawn(
    'sh',
    [
      '-c',
      'for p in $LAB_CGROUP_PROCS; do echo $$ >"$p" 2>/dev/null; done; exec nsenter -t "$1" -m -n "$2" --listen',
      'sh',
      String(logd),
      join(host.dir, 'bin', 'slab-libvirtd'),
    ],
    { stdio: ['ignore', log, log], env: { ...process.env, LAB_CGROUP_PROCS: cgroups.join(' ') } },
  );
  await waitAnswering(host, child, 60_000);
}
