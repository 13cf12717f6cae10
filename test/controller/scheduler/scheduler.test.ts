// tier: unit
import t from 'tap';
import { scheduleLinear } from '../../../controller/scheduler/linear-scan.ts';
import { schedule } from '../../../controller/scheduler/scheduler.ts';
import { DEFAULT_POLICY, type HostView, type VmRequest } from '../../../controller/scheduler/types.ts';

const host = (id: string, over: Partial<HostView> = {}): HostView => ({
  id,
  up: true,
  enabled: true,
  cluster: 'default',
  arch: 'x86_64',
  features: [],
  cpus: 4,
  memoryMiB: 8192,
  usedVcpus: 0,
  usedMemoryMiB: 0,
  load: 0,
  cachedImages: new Set(),
  groups: new Set(),
  ...over,
});
const vm = (id: string, over: Partial<VmRequest> = {}): VmRequest => ({ id, vcpus: 1, memoryMiB: 1024, ...over });
const five = ['a', 'b', 'c', 'd', 'e'].map((x) => vm(x));
const three = [host('h1'), host('h2'), host('h3')];

t.test('packing fills one host before the next', async (t) => {
  const p = schedule(five, three, { ...DEFAULT_POLICY, rank: 'packing' });
  t.same(
    p.map((x) => x.hostId),
    ['h1', 'h1', 'h1', 'h1', 'h1'],
  );
});

t.test('striping spreads VMs over the hosts', async (t) => {
  const p = schedule(five, three, { ...DEFAULT_POLICY, rank: 'striping' });
  t.same(
    p.map((x) => x.hostId),
    ['h1', 'h2', 'h3', 'h1', 'h2'],
  );
});

t.test('anti-affinity never puts two VMs of a group on one host, whatever the policy', async (t) => {
  const grouped = ['a', 'b', 'c'].map((x) => vm(x, { antiAffinityGroup: 'db' }));
  for (const rank of ['packing', 'striping', 'load-aware'] as const) {
    const p = schedule(grouped, three, { ...DEFAULT_POLICY, rank });
    t.equal(new Set(p.map((x) => x.hostId)).size, 3, `${rank}: three distinct hosts`);
  }
  const fourth = schedule([...grouped, vm('d', { antiAffinityGroup: 'db' })], three);
  t.equal(fourth[3]!.hostId, null);
  t.match((fourth[3] as { reason: string }).reason, /3 hosts already running group db/);
});

t.test('a full site leaves the VM pending with the reason, counting hosts per filter', async (t) => {
  const full = [
    host('h1', { usedMemoryMiB: 8192 }),
    host('h2', { enabled: false }),
    host('h3', { up: false }),
    host('h4', { cpus: 1, usedVcpus: 4 }),
  ];
  const [p] = schedule([vm('x', { memoryMiB: 2048 })], full, { ...DEFAULT_POLICY, cpuOvercommit: 4 });
  t.equal(p!.hostId, null);
  t.equal(
    (p as { reason: string }).reason,
    'no host fits: 1 host short of 2048 MiB free memory; 2 hosts down or disabled; 1 host short of 1 free vCPUs',
  );
});

t.test('capacity honours over-commit ratios and charges placed VMs', async (t) => {
  const one = [host('h1', { cpus: 2, memoryMiB: 4096 })];
  const vms = Array.from({ length: 5 }, (_, i) => vm(`v${i}`, { vcpus: 2, memoryMiB: 1024 }));
  const p = schedule(vms, one, { ...DEFAULT_POLICY, cpuOvercommit: 4, memoryOvercommit: 1 });
  t.same(
    p.map((x) => x.hostId),
    ['h1', 'h1', 'h1', 'h1', null],
    '4 x 1 GiB fit in 4 GiB; the fifth waits',
  );
  const p2 = schedule(vms, one, { ...DEFAULT_POLICY, cpuOvercommit: 1, memoryOvercommit: 2 });
  t.same(
    p2.map((x) => x.hostId),
    ['h1', null, null, null, null],
    'no CPU over-commit: one 2-vCPU VM on 2 CPUs',
  );
});

t.test('cluster, architecture and required features filter hosts', async (t) => {
  const hosts = [host('h1'), host('h2', { cluster: 'gpu', features: ['gpu'] }), host('h3', { arch: 'aarch64' })];
  t.equal(schedule([vm('g', { requiredFeatures: ['gpu'] })], hosts)[0]!.hostId, 'h2');
  t.equal(schedule([vm('c', { cluster: 'gpu' })], hosts)[0]!.hostId, 'h2');
  t.equal(schedule([vm('a', { arch: 'aarch64' })], hosts)[0]!.hostId, 'h3');
  const none = schedule([vm('n', { requiredFeatures: ['sgx'] })], hosts)[0] as { reason: string };
  t.match(none.reason, /3 hosts missing sgx/);
});

t.test('hosts that cache the image win, load-aware prefers idle hosts, failed hosts are excluded', async (t) => {
  const hosts = [host('h1'), host('h2', { cachedImages: new Set(['img']) })];
  t.equal(schedule([vm('x', { imageSha256: 'img' })], hosts, { ...DEFAULT_POLICY, rank: 'striping' })[0]!.hostId, 'h2');
  const loaded = [host('h1', { load: 0.9 }), host('h2', { load: 0.1 })];
  t.equal(schedule([vm('x')], loaded, { ...DEFAULT_POLICY, rank: 'load-aware' })[0]!.hostId, 'h2');
  t.equal(schedule([vm('x', { excludeHosts: new Set(['h1']) })], three)[0]!.hostId, 'h2');
});

t.test('placement is deterministic whatever the host order', async (t) => {
  const shuffled = [three[2]!, three[0]!, three[1]!];
  t.same(
    schedule(five, shuffled, { ...DEFAULT_POLICY, rank: 'striping' }),
    schedule(five, three, { ...DEFAULT_POLICY, rank: 'striping' }),
  );
});

t.test('the indexed scheduler places exactly as the linear scan, over random sites and batches', async (t) => {
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  for (let round = 0; round < 60; round++) {
    const hosts = Array.from({ length: 1 + Math.floor(rand() * 40) }, (_, i) =>
      host(`h${String(i).padStart(2, '0')}`, {
        up: rand() > 0.1,
        enabled: rand() > 0.05,
        cluster: pick(['default', 'gpu']),
        features: rand() > 0.7 ? ['ssd'] : [],
        cpus: pick([2, 4, 8]),
        memoryMiB: pick([2048, 4096, 8192]),
        usedVcpus: Math.floor(rand() * 8),
        // equal usages make ties, which must go to the smallest id in both
        usedMemoryMiB: pick([0, 1024, 2048, Math.floor(rand() * 4096)]),
        load: pick([0, 0.5, rand()]),
        cachedImages: new Set(rand() > 0.5 ? ['img-a'] : []),
        groups: new Set(rand() > 0.8 ? ['db'] : []),
        // some hosts report their disk (GiB units here), some do not
        ...(rand() > 0.3 ? { diskBytes: pick([40, 100]), usedDiskBytes: pick([0, 20, 30]) } : {}),
      }),
    );
    const vms = Array.from({ length: Math.floor(rand() * 80) }, (_, i) =>
      vm(`v${i}`, {
        vcpus: pick([1, 2, 4]),
        memoryMiB: pick([512, 1024, 2048]),
        ...(rand() > 0.8 ? { cluster: 'gpu' } : {}),
        ...(rand() > 0.9 ? { requiredFeatures: ['ssd'] } : {}),
        ...(rand() > 0.7 ? { antiAffinityGroup: pick(['db', 'web']) } : {}),
        ...(rand() > 0.3 ? { imageSha256: pick(['img-a', 'img-b']) } : {}),
        ...(rand() > 0.9 ? { excludeHosts: new Set([pick(hosts).id]) } : {}),
        ...(rand() > 0.3 ? { diskBytes: pick([5, 10, 20]) } : {}),
      }),
    );
    for (const rank of ['packing', 'striping', 'load-aware'] as const) {
      const policy = { ...DEFAULT_POLICY, rank, imageCacheBonus: pick([0, 0.25, 1]) };
      t.same(schedule(vms, hosts, policy), scheduleLinear(vms, hosts, policy), `round ${round} ${rank}`);
    }
  }
});
