// bench/image-cache: (1) download + verify + cache of a 1 GiB image by the agent's image cache vs
// `curl | tee file | sha256sum` + fsync in the same run (target: ratio <= 1.1); (2) overlay creation
// for a 100 MiB and a 10 GiB base (target: the same, <= 50 ms); (3) N concurrent deploys of one
// uncached image vs one deploy, with the downloads the server saw. The HTTP server is a separate process.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createOverlay } from '../drivers/qemu-img.ts';
import { makeCache } from '../test/helpers/image-cache.ts';
import { hashFile } from '../drivers/image-files.ts';

const SIZE_MIB = Number(process.argv[2] ?? 1024);
const N = Number(process.argv[3] ?? 10);
const ROUNDS = 3;
const dir = mkdtempSync(join(process.env['STRATUS_BENCH_DIR'] ?? '/var/tmp', 'stratus-bench-images-'));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const teardowns: (() => unknown)[] = [];
const t = { teardown: (fn: () => unknown) => teardowns.push(fn) };
const MiB = 1024 * 1024;

function randomFile(path: string, mib: number): void {
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(MiB);
  for (let i = 0; i < mib; i++) writeSync(fd, randomFillSync(buf));
  closeSync(fd);
}

async function startServer(
  files: string[],
): Promise<{ url: string; count: (name: string) => Promise<number>; proc: ChildProcess }> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('_image-server.ts', import.meta.url).pathname, ...files],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const url = String((await lines.next()).value);
  return {
    url,
    proc,
    count: async (name) => {
      proc.stdin!.write(`${name}\n`);
      return JSON.parse(String((await lines.next()).value)).requests as number;
    },
  };
}

async function curlBaseline(url: string, out: string): Promise<number> {
  const t0 = performance.now();
  const curl = spawn('curl', ['-sf', url], { stdio: ['ignore', 'pipe', 'inherit'] });
  const tee = spawn('tee', [out], { stdio: [curl.stdout!, 'pipe', 'inherit'] });
  const sum = spawn('sha256sum', [], { stdio: [tee.stdout!, 'pipe', 'inherit'] });
  let digest = '';
  sum.stdout!.on('data', (b) => (digest += b));
  // the parent's ends of the pipes between the children are not read: let only the children hold them
  curl.stdout!.destroy();
  tee.stdout!.destroy();
  await Promise.all([
    ...[curl, tee].map((p) => new Promise((r) => p.once('exit', r))),
    new Promise((r) => sum.once('close', r)),
  ]);
  execFileSync('sync', [out]);
  const ms = performance.now() - t0;
  rmSync(out);
  if (!digest) throw new Error('baseline produced no digest');
  return ms;
}

try {
  console.log(`image-cache: ${SIZE_MIB} MiB image, ${N} concurrent deploys, ${ROUNDS} rounds`);
  const big = join(dir, 'big.img');
  randomFile(big, SIZE_MIB);
  const bigSha = (await hashFile(big, ['sha256']))['sha256']!;
  const mid = join(dir, 'mid.img');
  randomFile(mid, 256);
  const midSha = (await hashFile(mid, ['sha256']))['sha256']!;
  const server = await startServer([big, mid]);

  // (1) download + verify + cache vs curl | tee | sha256sum
  const stratus: number[] = [];
  const baseline: number[] = [];
  const who = { actor: 'bench' };
  for (let i = 0; i < ROUNDS; i++) {
    baseline.push(await curlBaseline(`${server.url}big.img`, join(dir, 'curl.img')));
    const { cache } = await makeCache(t, { cacheDir: join(dir, `cache-${i}`) });
    const t0 = performance.now();
    const img = await cache.ensure({ sha256: bigSha, url: `${server.url}big.img` }, who);
    stratus.push(performance.now() - t0);
    if (img.sha256 !== bigSha) throw new Error('wrong digest');
    await cache.remove(img.sha256);
  }
  const ratio = median(stratus) / median(baseline);
  const mbps = (ms: number) => ((SIZE_MIB / ms) * 1000).toFixed(0);
  console.log(`  stratus fetch+verify+cache: median ${median(stratus).toFixed(0)} ms (${mbps(median(stratus))} MiB/s)`);
  console.log(
    `  curl | tee | sha256sum    : median ${median(baseline).toFixed(0)} ms (${mbps(median(baseline))} MiB/s)`,
  );
  console.log(`  ratio: ${ratio.toFixed(2)} (target <= 1.1)`);

  // (2) overlay creation: O(1) whatever the base size
  const small = join(dir, 'small-base.raw');
  randomFile(small, 100);
  const large = join(dir, 'large-base.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', large, '10G']);
  const overlayTimes = async (baseFile: string, fmt: string) => {
    await createOverlay(join(dir, 'warmup.qcow2'), baseFile, fmt);
    rmSync(join(dir, 'warmup.qcow2'));
    const xs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const ov = join(dir, `ov-${i}.qcow2`);
      const t0 = performance.now();
      await createOverlay(ov, baseFile, fmt);
      xs.push(performance.now() - t0);
      rmSync(ov);
    }
    return median(xs);
  };
  const overlaySmall = await overlayTimes(small, 'raw');
  const overlayLarge = await overlayTimes(large, 'qcow2');
  console.log(
    `  overlay on a 100 MiB base: ${overlaySmall.toFixed(1)} ms; on a 10 GiB base: ${overlayLarge.toFixed(1)} ms (target <= 50)`,
  );

  // (3) N concurrent deploys of one uncached image vs one deploy
  const one = await makeCache(t, { cacheDir: join(dir, 'one') });
  const before1 = await server.count('mid.img');
  let t0 = performance.now();
  await one.cache.acquire({ sha256: midSha, url: `${server.url}mid.img` }, 'vm:one/disk0', who);
  const singleMs = performance.now() - t0;
  const many = await makeCache(t, { cacheDir: join(dir, 'many') });
  const before = await server.count('mid.img');
  t0 = performance.now();
  await Promise.all(
    Array.from({ length: N }, (_, i) =>
      many.cache.acquire({ sha256: midSha, url: `${server.url}mid.img` }, `vm:${i}/disk0`, who),
    ),
  );
  const concurrentMs = performance.now() - t0;
  const downloads = (await server.count('mid.img')) - before;
  console.log(
    `  256 MiB image: 1 deploy ${singleMs.toFixed(0)} ms (${before - before1} download); ${N} concurrent deploys ${concurrentMs.toFixed(0)} ms, ${downloads} download(s)`,
  );
  server.proc.stdin!.write('quit\n');
  server.proc.kill();
  console.log(
    JSON.stringify({
      bench: 'image-cache',
      size_mib: SIZE_MIB,
      p50_ms: Math.round(median(stratus)),
      baseline_p50_ms: Math.round(median(baseline)),
      ratio: Number(ratio.toFixed(3)),
      overlay_ms_small: Number(overlaySmall.toFixed(1)),
      overlay_ms_large: Number(overlayLarge.toFixed(1)),
      single_deploy_ms: Math.round(singleMs),
      concurrent_deploys: N,
      concurrent_ms: Math.round(concurrentMs),
      concurrent_downloads: downloads,
      target: { ratio: 1.1, overlay_ms: 50, concurrent_downloads: 1 },
    }),
  );
} finally {
  for (const fn of teardowns) await fn();
  rmSync(dir, { recursive: true, force: true });
}
