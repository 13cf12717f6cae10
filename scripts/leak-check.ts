// What a test run leaves on the host: libvirt domains, QEMU processes, bridges, network namespaces,
// nftables tables, tgtd targets and daemons (agents, controllers, dnsmasq, mosquitto, tgtd, libvirtd).
//
//   tsx scripts/leak-check.ts snapshot FILE   records what exists now (the baseline, before the tests)
//   tsx scripts/leak-check.ts compare FILE    names everything that exists now and did not then; exit 1
//
// `npm test` (scripts/test.sh) takes the baseline before tap and compares after it, so anything that
// other work on the machine had running before is not blamed on the suite. Things being torn down get
// a few seconds to go away before they count.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

type Snapshot = Record<string, string[]>;

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 });
  } catch {
    return '';
  }
}

const lines = (s: string) =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

const DAEMONS: [string, RegExp][] = [
  ['stratus-agent', /bin\/stratus-agent\.js/],
  ['stratus-controller', /bin\/stratus-controller\.js/],
  ['dnsmasq', /(^|\/)dnsmasq( |$)/],
  ['mosquitto', /(^|\/)mosquitto( |$)/],
  ['tgtd', /(^|\/)tgtd( |$)/],
  ['libvirtd', /(^|\/)libvirtd( |$)/],
  ['qemu', /(^|\/)qemu-system-/],
];

/** Processes by kind, each as "pid name-of-the-domain-or-command" (pids make restarts count as new). */
function processes(): Snapshot {
  const out: Snapshot = {};
  for (const [kind] of DAEMONS) out[`process:${kind}`] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      continue;
    }
    for (const [kind, re] of DAEMONS) {
      if (!re.test(cmd)) continue;
      const guest = / -name (?:guest=)?([^, ]+)/.exec(cmd)?.[1];
      out[`process:${kind}`]!.push(`${pid} ${guest ?? cmd.slice(0, 160)}`);
      break;
    }
  }
  return out;
}

export function snapshot(): Snapshot {
  const nft = lines(run('nft', ['list', 'tables']));
  const tgt = lines(run('tgtadm', ['--lld', 'iscsi', '--mode', 'target', '--op', 'show'])).filter((l) =>
    l.startsWith('Target '),
  );
  return {
    domain: lines(run('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name'])),
    bridge: lines(run('ip', ['-o', 'link', 'show', 'type', 'bridge'])).map((l) => l.split(':')[1]!.trim()),
    netns: lines(run('ip', ['netns', 'list'])).map((l) => l.split(' ')[0]!),
    'nft-table': nft,
    'tgtd-target (default tgtd)': tgt,
    ...processes(),
  };
}

function leaks(base: Snapshot, now: Snapshot): string[] {
  const out: string[] = [];
  for (const [kind, items] of Object.entries(now)) {
    const before = new Set(base[kind] ?? []);
    for (const item of items) if (!before.has(item)) out.push(`${kind}: ${item}`);
  }
  return out;
}

async function main(): Promise<void> {
  const [mode, file] = process.argv.slice(2);
  if (!file || (mode !== 'snapshot' && mode !== 'compare')) {
    process.stderr.write('usage: leak-check.ts snapshot|compare FILE\n');
    process.exit(2);
  }
  if (mode === 'snapshot') {
    writeFileSync(file, JSON.stringify(snapshot(), null, 1));
    return;
  }
  const base = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  let found: string[] = [];
  for (let i = 0; i < 10; i++) {
    found = leaks(base, snapshot());
    if (found.length === 0) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (found.length === 0) {
    process.stdout.write('leak check: the tests left nothing behind\n');
    return;
  }
  process.stderr.write(`leak check: the tests left ${found.length} thing(s) behind:\n`);
  for (const l of found) process.stderr.write(`  ${l}\n`);
  process.exit(1);
}

await main();
