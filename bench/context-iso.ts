// bench/context-iso: context ISO generation per VM. Stratus: ContextService.build (NoCloud flavour:
// render meta-data, user-data, network-config; pack the ISO; record the token) and the OpenNebula
// flavour; baseline, in the same run: `cloud-localds` (cloud-image-utils) packing the same three
// files. Figure: p50 per ISO, ratio Stratus NoCloud / cloud-localds (target ≤ 1).
// Usage: npm run bench -- context-iso [count]

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLogger } from '../common/logger.ts';
import { openDatabase } from '../common/sqlite.ts';
import { ContextService } from '../controller/context/service.ts';
import { readIsoFile } from '../drivers/iso.ts';
import type { ContextNic } from '../protocol/context.ts';

const run = promisify(execFile);
const N = Number(process.argv[2] ?? 100);
const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-ctx-'));
const db = openDatabase(join(dir, 'controller.db'));
const ctx = new ContextService({ db, log: createLogger('bench', 'warn'), dir: join(dir, 'isos') });
const nics: ContextNic[] = [
  { mac: '02:00:00:00:00:01', ipv4: '10.214.0.5', prefix4: 24, gateway4: '10.214.0.1', dns4: ['10.214.0.53'] },
];
const request = (flavour: 'nocloud' | 'opennebula') => ({
  vmId: randomUUID(),
  flavour,
  hostname: 'bench-vm',
  username: 'cloud',
  sshPublicKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchBenchBenchBenchBenchBenchBenchBenchBe bench@stratus'],
  startScript: '#!/bin/sh\necho started\n',
});

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function time(fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

try {
  // the same three files for the baseline, taken from an ISO Stratus built
  const sample = await ctx.build(request('nocloud'), nics);
  const files: string[] = [];
  for (const f of ['user-data', 'meta-data', 'network-config']) {
    const p = join(dir, f);
    writeFileSync(p, await readIsoFile(sample.path, f));
    files.push(p);
  }
  await time(() => ctx.build(request('nocloud'), nics)); // warm-up
  const nocloud = await time(() => ctx.build(request('nocloud'), nics));
  const one = await time(() => ctx.build(request('opennebula'), nics));
  const out = join(dir, 'seed.iso');
  const [userData, metaData, networkConfig] = files as [string, string, string];
  const baseline = await time(() => run('cloud-localds', ['--network-config', networkConfig, out, userData, metaData]));
  readFileSync(out); // the baseline really produced an image
  const ratio = p50(nocloud) / p50(baseline);
  console.log(`stratus nocloud   : p50 ${p50(nocloud).toFixed(1)} ms per ISO (${N} VMs)`);
  console.log(`stratus opennebula: p50 ${p50(one).toFixed(1)} ms per ISO`);
  console.log(`cloud-localds     : p50 ${p50(baseline).toFixed(1)} ms per ISO`);
  console.log(
    JSON.stringify({
      bench: 'context-iso',
      p50_ms: Number(p50(nocloud).toFixed(1)),
      opennebula_p50_ms: Number(p50(one).toFixed(1)),
      baseline_p50_ms: Number(p50(baseline).toFixed(1)),
      ratio: Number(ratio.toFixed(2)),
      target: { ratio: 1 },
    }),
  );
} finally {
  db.close();
  rmSync(dir, { recursive: true, force: true });
}
