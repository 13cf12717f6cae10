// bench/faults: the fault-injection suite at full length (issue 12). A seeded stream of operations
// (create, delete, stop/start, volume attach/detach, snapshot) over two agents while agents, the
// controller (with its embedded broker), dnsmasq and tgtd are killed (SIGKILL, started again) or frozen
// (SIGSTOP, SIGCONT) at seeded points; after quiescence the invariant checker compares every source of
// truth (test/faults/). `--mosquitto` runs the site on a mosquitto of its own (the controller and agents
// its clients) and adds it to the victims; `--libvirtd` adds the shared system libvirtd (it disturbs
// other work on the machine). Violations are listed by kind above the JSON line; a failing seed is a
// regression.
// Usage: npm run bench -- faults [--seed S] [--ops N] [--faults F] [--mosquitto] [--libvirtd] [--verbose]
import { countByKind } from '../test/faults/invariants.ts';
import { defaultVictims, runFaults } from '../test/faults/run.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const seed = opt('seed', Math.floor(Math.random() * 2 ** 31));
const ops = opt('ops', 300);
const faults = opt('faults', 30);
const verbose = args.includes('--verbose');
const broker = args.includes('--mosquitto') ? 'mosquitto' : 'embedded';
const victims = defaultVictims(broker);
if (args.includes('--libvirtd')) victims.push('libvirtd');

const t0 = Date.now();
console.log(`faults: seed ${seed}, ${ops} operations, ${faults} faults over ${victims.join(', ')} (${broker} broker)`);
const r = await runFaults({
  seed,
  broker,
  ops,
  faults,
  victims,
  quiesceMs: 180_000,
  convergeMs: 90_000,
  log: verbose ? (l) => console.log(`  ${l}`) : undefined,
});
const byKind = countByKind(r.violations);
console.log(`  faults by victim: ${JSON.stringify(r.faultsByVictim)}`);
console.log(`  operation outcomes: ${JSON.stringify(r.outcomes)}`);
console.log(
  `  VMs created ${r.vmsCreated}; operations ${Math.round(r.opsMs / 1000)} s; quiescence and checks ${Math.round(r.settleMs / 1000)} s${r.quiet ? '' : ' (not quiet within the bound)'}`,
);
for (const [kind, n] of Object.entries(byKind)) {
  console.log(`  violation ${kind}: ${n}`);
  for (const v of r.violations.filter((x) => x.kind === kind)) console.log(`    ${v.detail}`);
}
console.log(
  JSON.stringify({
    bench: 'faults',
    seed,
    broker,
    victims,
    ops: r.ops,
    faults: r.faults,
    by_victim: r.faultsByVictim,
    violations: r.violations.length,
    by_kind: byKind,
    vms_created: r.vmsCreated,
    quiet: r.quiet,
    total_s: Math.round((Date.now() - t0) / 1000),
    target: { violations: 0, ops: 300, faults: 30, total_s: 600 },
  }),
);
process.exit(r.violations.length > 0 ? 1 : 0);
