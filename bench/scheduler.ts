// bench/scheduler: places 10,000 VMs onto 2,500 hosts in one batch with each ranking policy (target:
// under 1 s). Baseline in the same run: the same VMs placed one call at a time (what a scheduler that
// runs a full pass per VM pays). JSON: total_ms = packing batch time.
import { schedule } from '../controller/scheduler/scheduler.ts';
import { DEFAULT_POLICY, type HostView, type RankPolicy, type VmRequest } from '../controller/scheduler/types.ts';

const HOSTS = Number(process.argv[2] ?? 2500);
const VMS = Number(process.argv[3] ?? 10_000);
let seed = 42;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};

const hosts: HostView[] = Array.from({ length: HOSTS }, (_, i) => ({
  id: `host-${String(i).padStart(5, '0')}`,
  up: rand() > 0.02,
  enabled: true,
  cluster: i % 4 === 0 ? 'gpu' : 'default',
  arch: 'x86_64',
  features: i % 4 === 0 ? ['gpu'] : [],
  cpus: 32,
  memoryMiB: 131_072,
  usedVcpus: Math.floor(rand() * 32),
  usedMemoryMiB: Math.floor(rand() * 32_768),
  load: rand(),
  cachedImages: new Set(rand() > 0.5 ? ['img-a'] : []),
  groups: new Set(),
}));
const sizes = [
  [1, 1024],
  [2, 4096],
  [4, 8192],
  [8, 16_384],
] as const;
const vms: VmRequest[] = Array.from({ length: VMS }, (_, i) => {
  const [vcpus, memoryMiB] = sizes[i % sizes.length]!;
  return {
    id: `vm-${i}`,
    vcpus,
    memoryMiB,
    imageSha256: i % 3 === 0 ? 'img-a' : 'img-b',
    antiAffinityGroup: i % 10 === 0 ? `grp-${i % 50}` : undefined,
  };
});

const results: Record<string, number> = {};
for (const rank of ['packing', 'striping', 'load-aware'] as RankPolicy[]) {
  const t0 = performance.now();
  const placed = schedule(vms, hosts, { ...DEFAULT_POLICY, rank });
  results[rank] = performance.now() - t0;
  const ok = placed.filter((p) => p.hostId).length;
  console.log(`${rank.padEnd(10)} ${VMS} VMs on ${HOSTS} hosts: ${results[rank]!.toFixed(0)} ms (${ok} placed)`);
}
const sample = vms.slice(0, 500);
const t0 = performance.now();
for (const vm of sample) schedule([vm], hosts);
const perVmBaseline = ((performance.now() - t0) / sample.length) * VMS;
console.log(`baseline, one pass per VM (extrapolated from ${sample.length}): ${perVmBaseline.toFixed(0)} ms`);
console.log(
  JSON.stringify({
    bench: 'scheduler',
    vms: VMS,
    hosts: HOSTS,
    total_ms: Math.round(results['packing']!),
    striping_ms: Math.round(results['striping']!),
    load_aware_ms: Math.round(results['load-aware']!),
    baseline_ms: Math.round(perVmBaseline),
    ratio: Number((results['packing']! / perVmBaseline).toFixed(3)),
    target: { total_ms: 1000 },
  }),
);
