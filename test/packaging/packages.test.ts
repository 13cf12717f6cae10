// The packages, built once (release 1, then release 2 for the upgrades) and checked the way a site admin
// and a distribution reviewer would: lintian and rpmlint report no errors, the units pass
// `systemd-analyze verify` and score below 6 in `systemd-analyze security`, the .debs resolve against
// Debian's archive and install, run, remove and purge in a copy-on-write copy of this host
// (overlay-root.sh, so the host and the other tests are untouched), the .rpms install into an
// `rpm --root` tree with their scriptlets and run there, `rpm -qpR` names each family's packages, and
// upgrades keep configuration and state while updating the units.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { type BuildResult, buildPackages } from '../../packaging/build.ts';
import { FAMILIES, type Family } from '../../packaging/families.ts';
import { PROGRAMS, RUNTIME } from '../../packaging/packages.ts';
import { freePort } from '../helpers/agent-process.ts';
import { waitFor } from '../helpers/wait.ts';

const repo = new URL('../..', import.meta.url).pathname;
const overlayRoot = join(repo, 'test/packaging/overlay-root.sh');

interface Run {
  code: number | null;
  out: string;
}

function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Run {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    env: opts.env ?? process.env,
    input: opts.input,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

const setup = sh('bash', [join(repo, 'packaging/setup.sh'), '--with-apt-lists']);
if (setup.code !== 0) throw new Error(`packaging/setup.sh failed:\n${setup.out}`);

const work = mkdtempSync(join(tmpdir(), 'stratus-pkgtest-'));
const pkgs = join(work, 'pkgs');
const roots = join(work, 'roots');
mkdirSync(roots, { recursive: true });
const gnupg = join(work, 'gnupg');
mkdirSync(gnupg, { mode: 0o700 });
t.teardown(() => {
  sh('gpgconf', ['--homedir', gnupg, '--kill', 'all']);
  rmSync(work, { recursive: true, force: true });
});

// a throw-away signing key: RPMs are signed as a release would be, and rpmlint checks the signature
const KEY = 'Stratus packaging test <packaging-test@example.org>';
process.env['GNUPGHOME'] = gnupg;
const keygen = sh('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', KEY, 'ed25519', 'sign', 'never']);
if (keygen.code !== 0) throw new Error(`gpg key generation failed:\n${keygen.out}`);
const keyFile = join(work, 'signing-key.asc');
writeFileSync(keyFile, sh('gpg', ['--armor', '--export', KEY]).out);

const log = (l: string) => t.comment(l);
const b1: BuildResult = await buildPackages({ fast: true, release: '1', out: join(pkgs, 'b1'), sign: KEY, log });
const b2: BuildResult = await buildPackages({
  fast: true,
  release: '2',
  out: join(pkgs, 'b2'),
  families: ['debian', 'el9'],
  sign: KEY,
  log,
});
const V = b1.version;

/** /mnt/packages/... path (inside a sandbox root) of a built file. */
const inside = (file: string) => file.replace(pkgs, '/mnt/packages');
const files = (b: BuildResult, family: Family) => b.files[family] ?? [];
const pick = (b: BuildResult, family: Family, name: string) => {
  const re = new RegExp(`/${name}[-_]${V.replace(/\./g, '\\.')}-`);
  const f = files(b, family).find((x) => re.test(x));
  if (!f) throw new Error(`no ${name} package for ${family}`);
  return f;
};

/** A sandbox: a copy-on-write copy of this host's root with every Stratus path removed. */
function sandbox(name: string) {
  const state = join(roots, name);
  const chroot = (args: string[], input?: string) =>
    sh(overlayRoot, [state, pkgs, 'chroot', ...args], input === undefined ? {} : { input });
  const rpm = (args: string[]) => sh(overlayRoot, [state, pkgs, 'rpm', ...args]);
  const exists = (path: string) => chroot(['test', '-e', path]).code === 0;
  const cat = (path: string) => chroot(['cat', path]).out;
  chroot(['rm', '-rf', '/var/lib/stratus', '/var/log/stratus', '/etc/stratus', '/usr/lib/stratus']);
  chroot(['userdel', 'stratus']);
  chroot(['groupdel', 'stratus']);
  return { state, chroot, rpm, exists, cat };
}

/** Starts an installed program inside a sandbox (sharing the host's network and libvirtd sockets). */
function startInstalled(state: string, bin: string, env: Record<string, string>) {
  let out = '';
  const proc = spawn(overlayRoot, [state, pkgs, 'chroot', bin], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (b) => (out += b));
  proc.stderr!.on('data', (b) => (out += b));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    return proc.exitCode;
  };
  return { proc, out: () => out, stop };
}

async function getOk(url: string, headers: Record<string, string> = {}): Promise<Response | undefined> {
  const r = await fetch(url, { headers }).catch(() => undefined);
  return r?.status === 200 ? r : undefined;
}

t.test(
  'npm run package builds the runtime and every declared program as .deb and as .rpm for every family',
  async (t) => {
    const pkgJson = JSON.parse(sh('cat', [join(repo, 'package.json')]).out) as { scripts: Record<string, string> };
    t.equal(
      pkgJson.scripts['package'],
      'bash packaging/setup.sh && tsx packaging/build.ts',
      'npm run package installs its tools (packaging/setup.sh), then runs packaging/build.ts',
    );
    // every declared package is built for every family: none may silently drop out (a moved entry point
    // makes build.ts skip a program, and this is where that must fail)
    const declared = [RUNTIME.name, ...PROGRAMS.map((p) => p.name)];
    t.same(b1.skipped, [], 'no declared program skipped');
    t.same([...b1.built].sort(), [...declared].sort(), `built: ${declared.join(', ')}`);
    t.same(Object.keys(b1.files).sort(), Object.keys(FAMILIES).sort(), 'packages for every family');
    for (const family of Object.keys(FAMILIES) as Family[]) {
      const names = files(b1, family).map((f) => f.split('/').pop()!);
      for (const name of declared) {
        const re = new RegExp(`^${name}[-_]${V.replace(/\./g, '\\.')}-1[._]`);
        t.equal(names.filter((n) => re.test(n)).length, 1, `${family}: one ${name} package`);
      }
      t.equal(names.length, declared.length, `${family}: nothing else (${names.join(', ')})`);
    }
    t.ok(
      files(b1, 'debian').some((f) => f.endsWith(`stratus-agent_${V}-1_all.deb`)),
      'the agent .deb is architecture-independent (the runtime carries the native parts)',
    );
    t.ok(
      files(b1, 'el9').some((f) => f.endsWith(`stratus-runtime-${V}-1.el9.x86_64.rpm`)),
      'the runtime .rpm is x86_64',
    );
  },
);

t.test('lintian reports no errors on any .deb', async (t) => {
  const r = sh('lintian', ['--tag-display-limit', '0', ...files(b1, 'debian')]);
  const tags = r.out.split('\n').filter((l) => /^[EWI]: /.test(l));
  for (const l of tags) t.comment(l);
  t.same(
    tags.filter((l) => l.startsWith('E: ')),
    [],
    'no E: tags',
  );
  t.notOk(/internal error|Traceback/i.test(r.out), 'lintian ran through');
});

t.test('rpmlint reports no errors on any .rpm, and the signatures verify', async (t) => {
  // rpmlint and rpm -K trust the packaging key through a private rpmdb (HOME/.rpmdb with Debian's rpm)
  const home = join(work, 'rpmlint-home');
  mkdirSync(home, { recursive: true });
  const env = { ...process.env, HOME: home };
  t.equal(sh('rpm', ['--import', keyFile], { env }).code, 0, 'signing key imported');
  for (const family of ['el9', 'fedora', 'suse'] as Family[]) {
    const r = sh('rpmlint', files(b1, family), { env });
    const lines = r.out.split('\n').filter((l) => /: [EW]: /.test(l));
    t.comment(`${family}: ${r.out.trim().split('\n').pop()}`);
    t.same(
      lines.filter((l) => l.includes(': E: ')),
      [],
      `${family}: no errors`,
    );
    for (const f of files(b1, family)) {
      t.match(sh('rpm', ['-K', f], { env }).out, /digests signatures OK/, `${f.split('/').pop()} signature OK`);
    }
  }
});

t.test('systemd units: systemd-analyze security exposure below 6 for each', async (t) => {
  const stage = join(b1.outDir, 'stage');
  const units = readdirSync(stage)
    .filter((d) => !d.startsWith('.'))
    .flatMap((d) => {
      const dir = join(stage, d, 'usr/lib/systemd/system');
      return sh('ls', [dir]).code === 0 ? readdirSync(dir).map((u) => join(dir, u)) : [];
    });
  t.ok(
    units.some((u) => u.endsWith('stratus-agent.service')),
    'the agent unit is shipped',
  );
  for (const unit of units) {
    const r = sh('systemd-analyze', ['security', '--offline=true', unit]);
    const m = /Overall exposure level for (\S+): ([\d.]+)/.exec(r.out);
    t.ok(m, `${unit}: exposure printed`);
    t.comment(`exposure of ${m?.[1]}: ${m?.[2]}`);
    t.ok(Number(m?.[2]) < 6, `${m?.[1]} exposure ${m?.[2]} < 6`);
  }
});

t.test(
  'deb: dependencies resolve in Debian 12, install enables the units without starting them, binaries run, removal keeps state, purge deletes it',
  async (t) => {
    const box = sandbox('deb');
    const debs = files(b1, 'debian').map(inside);
    const sim = box.chroot(['apt-get', 'install', '-s', '-q', ...debs]);
    t.equal(sim.code, 0, `apt resolves every Depends and Recommends:\n${sim.out.slice(-2000)}`);

    const postinst = sh('dpkg-deb', ['-I', pick(b1, 'debian', 'stratus-agent'), 'postinst']).out;
    t.notMatch(postinst, /deb-systemd-invoke (start|restart)/, 'postinst never starts the unit');
    t.match(postinst, /if \[ -n "\$2" \]; then\s+deb-systemd-invoke try-restart/, 'only an upgrade try-restarts');

    const install = box.chroot(['dpkg', '-i', ...debs]);
    t.equal(install.code, 0, `dpkg -i:\n${install.out.slice(-2000)}`);
    const program = (name: string) => b1.built.includes(name);
    for (const name of b1.built.filter((n) => n !== 'stratus-runtime')) {
      t.equal(box.chroot([`/usr/bin/${name}`, '--version']).out.trim(), `${name} ${V}`, `${name} --version`);
      t.match(box.chroot([`/usr/bin/${name}`, '--help']).out, new RegExp(`^Usage: ${name} `), `${name} --help`);
    }
    t.match(box.chroot(['man', '-w', '8', 'stratus-agent']).out, /stratus-agent\.8\.gz/, 'man page installed');
    t.match(box.chroot(['id', 'stratus']).out, /\(stratus\)/, 'system user created');
    if (sh('getent', ['group', 'libvirt']).code === 0) {
      t.match(box.chroot(['id', '-nG', 'stratus']).out, /\blibvirt\b/, 'the user joined the libvirt group');
    }
    t.equal(box.chroot(['stat', '-c', '%U', '/var/lib/stratus/agent']).out.trim(), 'stratus', 'state dir owned');
    t.ok(box.exists('/etc/systemd/system/multi-user.target.wants/stratus-agent.service'), 'agent unit enabled');
    const units = ['/lib/systemd/system/stratus-agent.service'];
    if (program('stratus-controller')) units.push('/lib/systemd/system/stratus-controller.service');
    const verify = box.chroot(['systemd-analyze', 'verify', '--recursive-errors=yes', ...units]);
    t.equal(verify.code, 0, `systemd-analyze verify accepts the installed units:\n${verify.out}`);

    // the installed agent, from its installed path, drives the host's libvirtd and writes its state
    const agentPort = await freePort();
    const agent = startInstalled(box.state, '/usr/bin/stratus-agent', {
      STRATUS_AGENT_API_LISTEN: `127.0.0.1:${agentPort}`,
      STRATUS_AGENT_LIBVIRT_VIRT_TYPE: 'qemu',
    });
    try {
      const host = (await (
        await waitFor('the installed agent to reach libvirt', () => {
          // over TCP the local API wants the token the agent wrote (0600) at its first start
          const token = box.chroot(['cat', '/var/lib/stratus/agent/api.token']).out.trim();
          return getOk(`http://127.0.0.1:${agentPort}/v1/host`, { authorization: `Bearer ${token}` });
        })
      ).json()) as { versions: { libvirt: string } };
      t.ok(host.versions.libvirt, `installed agent connected to libvirt ${host.versions.libvirt}`);
    } finally {
      t.equal(await agent.stop(), 0, `installed agent stopped cleanly:\n${agent.out().slice(-1000)}`);
    }
    t.ok(box.exists('/var/lib/stratus/agent/agent.db'), 'the agent wrote its database');

    if (program('stratus-controller')) {
      // the installed controller serves its API and the dashboard with its assets
      const [apiPort, mqttPort] = [await freePort(), await freePort()];
      const controller = startInstalled(box.state, '/usr/bin/stratus-controller', {
        STRATUS_CONTROLLER_API_LISTEN: `127.0.0.1:${apiPort}`,
        STRATUS_CONTROLLER_MQTT_LISTEN: `127.0.0.1:${mqttPort}`,
      });
      try {
        const base = `http://127.0.0.1:${apiPort}`;
        await waitFor('the installed controller to answer', () => getOk(`${base}/v1/health`));
        for (const path of ['/dashboard/', '/dashboard/vendor/mqtt.esm.js']) {
          t.ok(await getOk(`${base}${path}`), `installed controller serves ${path}`);
        }
      } finally {
        t.equal(await controller.stop(), 0, `installed controller stopped cleanly:\n${controller.out().slice(-1000)}`);
      }
    }

    t.equal(box.chroot(['dpkg', '-r', 'stratus-agent']).code, 0, 'dpkg -r');
    t.notOk(box.exists('/usr/bin/stratus-agent'), 'program removed');
    t.ok(box.exists('/var/lib/stratus/agent/agent.db'), 'removal keeps /var/lib/stratus');
    t.ok(box.exists('/etc/stratus/agent.toml'), 'removal keeps the configuration');
    const others = b1.built.filter((n) => n !== 'stratus-agent' && n !== 'stratus-runtime');
    t.equal(box.chroot(['dpkg', '-P', 'stratus-agent', ...others, 'stratus-runtime']).code, 0, 'dpkg -P');
    t.notOk(box.exists('/var/lib/stratus'), 'purge deletes /var/lib/stratus');
    t.notOk(box.exists('/var/log/stratus'), 'purge deletes /var/log/stratus');
    t.notOk(box.exists('/etc/stratus'), 'purge deletes /etc/stratus');
    t.notOk(box.exists('/usr/lib/stratus'), 'nothing left in /usr/lib/stratus');
  },
);

t.test('deb upgrade: changed configuration and state are kept, the unit is updated', async (t) => {
  const box = sandbox('deb-upgrade');
  const v1 = ['stratus-runtime', 'stratus-agent'].map((n) => inside(pick(b1, 'debian', n)));
  t.equal(box.chroot(['dpkg', '-i', ...v1]).code, 0, 'release 1 installed');
  const config = box.cat('/etc/stratus/agent.toml').replace('# level = "info"', 'level = "debug"');
  t.match(config, /^level = "debug"$/m, 'configuration changed');
  box.chroot(['tee', '/etc/stratus/agent.toml'], config);
  box.chroot(['tee', '/var/lib/stratus/agent/marker'], 'state from release 1\n');
  const v2 = ['stratus-runtime', 'stratus-agent'].map((n) => inside(pick(b2, 'debian', n)));
  const up = box.chroot(['dpkg', '-i', ...v2]);
  t.equal(up.code, 0, `release 2 installed over release 1 without a conffile prompt:\n${up.out.slice(-1500)}`);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a template
  t.match(box.chroot(['dpkg-query', '-W', '-f', '${Version}', 'stratus-agent']).out, `${V}-2`);
  t.equal(box.cat('/etc/stratus/agent.toml'), config, 'configuration kept');
  t.equal(box.cat('/var/lib/stratus/agent/marker'), 'state from release 1\n', 'state kept');
  t.match(box.cat('/lib/systemd/system/stratus-agent.service'), `Shipped by stratus-agent ${V}-2.`, 'unit updated');
  t.equal(box.chroot(['/usr/bin/stratus-agent', '--version']).out.trim(), `stratus-agent ${V}`);
});

/** What `rpm -qpR/--recommends/--suggests` must list, per family, in each family's own names. */
const EXPECTED: Record<'el9' | 'fedora' | 'suse', Record<string, { requires: string[]; recommends?: string[] }>> = {
  el9: {
    'stratus-agent': {
      requires: ['libvirt.so.0()(64bit)', 'libsystemd.so.0()(64bit)', 'qemu-img', 'xz', 'nftables', 'iproute'],
      recommends: ['libvirt-daemon-kvm', 'qemu-kvm'],
    },
    'stratus-controller': { requires: ['dnsmasq', 'xorriso', 'iproute', 'openssl'], recommends: ['scsi-target-utils'] },
    'stratus-runtime': { requires: ['libstdc++.so.6()(64bit)', 'libc.so.6()(64bit)'] },
  },
  fedora: {
    'stratus-agent': {
      requires: ['libvirt.so.0()(64bit)', 'libsystemd.so.0()(64bit)', 'qemu-img', 'nftables', 'iproute'],
      recommends: ['libvirt-daemon-kvm', 'qemu-kvm', 'qemu-block-iscsi'],
    },
    'stratus-controller': { requires: ['dnsmasq', 'xorriso', 'iproute', 'openssl'], recommends: ['scsi-target-utils'] },
    'stratus-runtime': { requires: ['libstdc++.so.6()(64bit)'] },
  },
  suse: {
    'stratus-agent': {
      requires: ['libvirt.so.0()(64bit)', 'libsystemd.so.0()(64bit)', 'qemu-tools', 'nftables', 'iproute2'],
      recommends: ['libvirt-daemon-qemu', 'qemu-kvm', 'qemu-block-iscsi'],
    },
    'stratus-controller': { requires: ['dnsmasq', 'xorriso', 'iproute2', 'openssl'], recommends: ['tgt'] },
    'stratus-runtime': { requires: ['libstdc++.so.6()(64bit)'] },
  },
};

t.test('rpm -qpR lists each family’s dependencies, the runtime exactly pinned', async (t) => {
  for (const family of ['el9', 'fedora', 'suse'] as const) {
    for (const [name, want] of Object.entries(EXPECTED[family])) {
      if (!b1.built.includes(name)) continue;
      const file = pick(b1, family, name);
      const requires = sh('rpm', ['-qpR', file])
        .out.split('\n')
        .map((l) => l.trim());
      for (const r of want.requires) t.ok(requires.includes(r), `${family} ${name} requires ${r}`);
      if (name !== 'stratus-runtime') {
        const dist = file.match(/-1(\.[a-z0-9]+)\.noarch\.rpm$/)![1];
        t.ok(requires.includes(`stratus-runtime = ${V}-1${dist}`), `${family} ${name} pins the runtime build`);
      }
      const recommends = sh('rpm', ['-qp', '--recommends', file])
        .out.split('\n')
        .map((l) => l.trim());
      for (const r of want.recommends ?? []) t.ok(recommends.includes(r), `${family} ${name} recommends ${r}`);
    }
    const agent = sh('rpm', ['-qpR', pick(b1, family, 'stratus-agent')]).out;
    t.match(agent, family === 'suse' ? /^shadow$/m : /^shadow-utils$/m, `${family}: user tools for %pre`);
  }
});

t.test(
  'rpm: installs into an rpm --root tree with its scriptlets, binaries run there; upgrade keeps configuration and state, updates the unit',
  async (t) => {
    for (const family of ['el9', 'fedora', 'suse'] as const) {
      const box = sandbox(`rpm-${family}`);
      const db = ['--dbpath', '/var/lib/rpm'];
      t.equal(box.rpm([...db, '--initdb']).code, 0, `${family}: rpmdb created in the root`);
      t.equal(box.rpm([...db, '--import', keyFile]).code, 0, `${family}: signing key trusted`);
      const rpms = files(b1, family);
      // this root is Debian: only the distribution's packages are missing, never one of ours
      const test = box.rpm([...db, '-i', '--test', ...rpms]);
      const needed = test.out.split('\n').filter((l) => /is needed by/.test(l));
      t.ok(needed.length > 0, `${family}: the distribution dependencies are declared`);
      t.same(
        needed.filter((l) => /^\s*stratus/.test(l)),
        [],
        `${family}: the packages satisfy each other`,
      );
      const install = box.rpm([...db, '-i', '--nodeps', ...rpms]);
      t.equal(install.code, 0, `${family}: rpm --root -i:\n${install.out}`);
      t.equal(box.chroot(['/usr/bin/stratus-agent', '--version']).out.trim(), `stratus-agent ${V}`);
      if (b1.built.includes('stratus')) t.match(box.chroot(['/usr/bin/stratus', '--help']).out, /^Usage: stratus /);
      t.match(box.chroot(['id', 'stratus']).out, /\(stratus\)/, `${family}: %pre created the user`);
      t.ok(
        box.exists('/etc/systemd/system/multi-user.target.wants/stratus-agent.service'),
        `${family}: %post enabled the unit through its preset`,
      );
      t.equal(box.chroot(['stat', '-c', '%U', '/var/lib/stratus/agent']).out.trim(), 'stratus', 'state dir owned');
      t.match(box.cat('/usr/lib/systemd/system/stratus-agent.service'), `Shipped by stratus-agent ${V}-1.`);
      if (family !== 'el9') continue;

      const config = box.cat('/etc/stratus/agent.toml').replace('# level = "info"', 'level = "debug"');
      box.chroot(['tee', '/etc/stratus/agent.toml'], config);
      box.chroot(['tee', '/var/lib/stratus/agent/marker'], 'state from release 1\n');
      const up = box.rpm([...db, '-U', '--nodeps', ...files(b2, 'el9')]);
      t.equal(up.code, 0, `el9: rpm -U to release 2:\n${up.out}`);
      t.match(box.rpm([...db, '-q', 'stratus-agent']).out, `stratus-agent-${V}-2.el9`);
      t.equal(box.cat('/etc/stratus/agent.toml'), config, 'el9: configuration kept');
      t.notOk(box.exists('/etc/stratus/agent.toml.rpmnew'), 'el9: no .rpmnew (the shipped file did not change)');
      t.equal(box.cat('/var/lib/stratus/agent/marker'), 'state from release 1\n', 'el9: state kept');
      t.match(box.cat('/usr/lib/systemd/system/stratus-agent.service'), `Shipped by stratus-agent ${V}-2.`);
      const erase = box.rpm([...db, '-e', '--nodeps', 'stratus-agent']);
      t.equal(erase.code, 0, `el9: rpm -e:\n${erase.out}`);
      t.ok(box.exists('/var/lib/stratus/agent/marker'), 'el9: erase keeps /var/lib/stratus');
      t.ok(box.exists('/etc/stratus/agent.toml.rpmsave'), 'el9: the changed configuration is saved as .rpmsave');
      t.notOk(
        box.exists('/etc/systemd/system/multi-user.target.wants/stratus-agent.service'),
        'el9: %preun disabled the unit',
      );
    }
  },
);
