// What Stratus ships, declared: one entry per program package (entry point, extra bundled entries, the
// configuration file rendered from its schema, the systemd unit, state directories, dependencies by
// abstract name) plus the shared runtime package (the Node binary that built the bundles and the native
// modules compiled for it). The builders (stage.ts, deb.ts, rpm-spec.ts) read only this file to know
// what goes where; a program whose entry point does not exist yet is skipped with a message.

import type { Dependency } from './families.ts';

export const PREFIX = '/usr/lib/stratus';
export const CONFIG_DIR = '/etc/stratus';
export const STATE_ROOT = '/var/lib/stratus';
export const SYSTEM_USER = 'stratus';

export interface ProgramPackage {
  /** Package name, also the command in /usr/bin. */
  name: string;
  /** One line (Debian short description, RPM Summary). */
  summary: string;
  /** A paragraph for the long description. */
  description: string;
  /** The program's main module: the package is built once this file exists. */
  main: string;
  /** Entry point bundled to PREFIX/<dir>/<name>.js, when it is not `main` itself (a module that only
   * exports its run() gets a small entry in packaging/entries/). */
  entry?: string;
  /** Directory under PREFIX holding this program's bundle. */
  dir: string;
  /** Node options of this program's launcher, after NODE_FLAGS (V8 heap settings, measured in bench/). */
  nodeFlags?: string[];
  /** Environment variables its launcher exports, unless already set, before starting Node (e.g. malloc tunables). */
  env?: Record<string, string>;
  /** Extra entry points bundled beside the main one (output name → source), e.g. worker threads. */
  extraEntries?: Record<string, string>;
  /** Files the program reads beside its bundle at run time (destination under PREFIX/<dir> → source in
   * the repository), for code that locates them from import.meta.url. */
  assets?: Record<string, string>;
  /** Man page section: 8 for daemons, 1 for user commands. */
  manSection: 1 | 8;
  /** Configuration file CONFIG_DIR/<file>, rendered from a TypeBox schema; a conffile that upgrades keep. */
  config?: { file: string; module: string; exportName: string; title: string };
  /** systemd unit in systemd/, enabled (not started) on install, stopped on removal. */
  unit?: string;
  /** Directories owned by the system user: created on install, kept on removal, deleted on purge. */
  stateDirs?: string[];
  /** Supplementary groups the system user joins when they exist on the host. */
  userGroups?: string[];
  requires: Dependency[];
  recommends?: Dependency[];
  suggests?: Dependency[];
}

export const RUNTIME = {
  name: 'stratus-runtime',
  summary: 'Node.js runtime and native modules for Stratus',
  description:
    'The Node.js binary that the Stratus programs were built and tested with, and the native modules ' +
    'compiled for it (better-sqlite3, koffi), under /usr/lib/stratus. Private to Stratus: nothing else ' +
    'should use it, and it does not conflict with a distribution nodejs.',
  /** npm packages shipped unbundled under PREFIX/node_modules, with the files each needs at run time. */
  nativeModules: {
    koffi: [
      'package.json',
      'LICENSE.txt',
      'index.js',
      'index.cjs',
      'src/koffi/index.js',
      'src/koffi/index.cjs',
      'src/koffi/src/static.js',
      'src/koffi/src/static.cjs',
    ],
    '@koromix/koffi-linux-x64': ['package.json', 'index.js', 'README.md', 'linux_x64/koffi.node'],
    'better-sqlite3': ['package.json', 'LICENSE', 'lib', 'build/Release/better_sqlite3.node'],
    bindings: ['package.json', 'bindings.js', 'LICENSE.md'],
    'file-uri-to-path': ['package.json', 'index.js', 'LICENSE'],
  } as Record<string, string[]>,
} as const;

/** Node options of every launcher (/usr/bin/<program>): stack traces name the TypeScript sources. */
export const NODE_FLAGS = ['--enable-source-maps'];

/** The Node options the launcher of `pkg` runs its bundle with (the benchmarks use the same). */
export function launcherNodeFlags(pkg: ProgramPackage): string[] {
  return [...NODE_FLAGS, ...(pkg.nodeFlags ?? [])];
}

/** Modules the bundles import at run time from PREFIX/node_modules instead of carrying them. */
export const EXTERNAL_MODULES = ['koffi', 'better-sqlite3'];

export const PROGRAMS: ProgramPackage[] = [
  {
    name: 'stratus-agent',
    summary: 'Stratus node agent for KVM hypervisors',
    description:
      'The Stratus agent runs on every KVM host of a Stratus cloud: it manages the host libvirt domains ' +
      'through the libvirt C API, keeps their desired state in SQLite, adopts running guests after a ' +
      'restart without touching them, records serial consoles and serves a local API.',
    main: 'agent/main.ts',
    dir: 'agent',
    // bench/agent-footprint: a V8 heap that favours size (smaller growth steps, young generation of 1 MB
    // per semi-space instead of up to 16), and two malloc arenas instead of one per thread (libuv pool,
    // V8 platform, koffi, call workers): about 10 MB less RSS with 50 domains, no measurable CPU cost
    nodeFlags: ['--optimize-for-size', '--max-semi-space-size=1'],
    env: { MALLOC_ARENA_MAX: '2' },
    extraEntries: { 'call-worker': 'drivers/libvirt/call-worker.ts' },
    manSection: 8,
    config: {
      file: 'agent.toml',
      module: 'agent/config.ts',
      exportName: 'AgentConfigSchema',
      title: 'stratus-agent configuration',
    },
    unit: 'stratus-agent.service',
    stateDirs: [`${STATE_ROOT}/agent`, '/var/log/stratus/console'],
    userGroups: ['libvirt'],
    requires: ['libvirt-lib', 'libsystemd', 'qemu-img', 'xz', 'nftables', 'iproute'],
    recommends: ['libvirt-daemon', 'qemu-system', 'qemu-iscsi'],
    suggests: ['iscsi-initiator'],
  },
  {
    name: 'stratus-controller',
    summary: 'Stratus controller: API, scheduler and fleet state of a site',
    description:
      'The Stratus controller runs once per site: REST API, scheduler, dispatch to the agents over MQTT ' +
      '(embedded broker by default), networks with one supervised dnsmasq per network, context ISOs, ' +
      'volumes and images, with its state in SQLite.',
    main: 'controller/main.ts',
    dir: 'controller',
    assets: {
      // controller/dashboard/routes.ts: the page, and mqtt.js's browser bundle found through mqtt/package.json
      public: 'controller/dashboard/public',
      'node_modules/mqtt/package.json': 'node_modules/mqtt/package.json',
      'node_modules/mqtt/LICENSE.md': 'node_modules/mqtt/LICENSE.md',
      'node_modules/mqtt/dist/mqtt.esm.js': 'node_modules/mqtt/dist/mqtt.esm.js',
    },
    manSection: 8,
    config: {
      file: 'controller.toml',
      module: 'controller/config.ts',
      exportName: 'ControllerConfigSchema',
      title: 'stratus-controller configuration',
    },
    unit: 'stratus-controller.service',
    stateDirs: [`${STATE_ROOT}/controller`],
    requires: ['libsystemd', 'dnsmasq', 'iso-tool', 'iproute', 'openssl'],
    recommends: ['iscsi-target'],
    suggests: ['mqtt-broker', 'lvm'],
  },
  {
    name: 'stratus',
    summary: 'Command-line client of Stratus clouds',
    description:
      'The `stratus` command talks to a Stratus controller REST API: hosts, images, instance types, ' +
      'VMs, networks and disks, as tables or JSON.',
    main: 'cli/main.ts',
    entry: 'packaging/entries/stratus.ts',
    dir: 'cli',
    manSection: 1,
    requires: [],
  },
];
