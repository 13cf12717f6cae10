// bench/domain-ops: define+start+destroy+undefine of N TCG guests through the agent's API, and in the
// same run through virsh with the same domain XML (one virsh process per domain, all four commands in
// it). Target: the agent within 1.2x of virsh. JSON: ratio = agent time / virsh time.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDomainXml } from '../agent/vm/domain-xml.ts';
import { startAgent } from '../test/helpers/agent-process.ts';
import { guestSpec } from '../test/helpers/guest.ts';

const N = Number(process.argv[2] ?? 10);
const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-'));
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function viaAgent(): Promise<number[]> {
  const agent = await startAgent({ resyncS: 300 });
  await agent.waitReady();
  const times: number[] = [];
  try {
    for (let i = 0; i < N; i++) {
      const spec = guestSpec({ name: `bench-agent-${i}` });
      const t0 = performance.now();
      const c = await agent.request('POST', '/v1/vms', { spec });
      if (c.status !== 201) throw new Error(`create failed: ${JSON.stringify(c.body)}`);
      const d = await agent.request('POST', `/v1/vms/${spec.id}/stop`, { force: true });
      if (d.status !== 200) throw new Error(`stop failed: ${JSON.stringify(d.body)}`);
      const x = await agent.request('DELETE', `/v1/vms/${spec.id}`);
      if (x.status !== 204) throw new Error(`delete failed: ${JSON.stringify(x.body)}`);
      times.push(performance.now() - t0);
    }
  } finally {
    await agent.cleanup();
  }
  return times;
}

function viaVirsh(): number[] {
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const spec = { ...guestSpec({ name: `bench-virsh-${i}` }), id: randomUUID() };
    const xml = buildDomainXml(spec, {
      virtType: 'qemu',
      consoleLogPath: join(dir, `${spec.id}.log`),
      hostId: 'bench',
    });
    const file = join(dir, `${spec.id}.xml`);
    writeFileSync(file, xml);
    const name = `stratus-${spec.id}`;
    const t0 = performance.now();
    execFileSync('virsh', [
      '-q',
      '-c',
      'qemu:///system',
      `define ${file}; start ${name}; destroy ${name}; undefine ${name}`,
    ]);
    times.push(performance.now() - t0);
  }
  return times;
}

viaVirsh(); // warm-up: page cache, libvirtd's capability cache
const virsh = viaVirsh();
const agent = await viaAgent();
rmSync(dir, { recursive: true, force: true });
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const ratio = sum(agent) / sum(virsh);
console.log(`domain-ops: ${N} x define+start+destroy+undefine of a TCG guest`);
console.log(
  `  agent API : total ${sum(agent).toFixed(0)} ms, p50 ${percentile(agent, 0.5).toFixed(0)} ms, p99 ${percentile(agent, 0.99).toFixed(0)} ms`,
);
console.log(
  `  virsh     : total ${sum(virsh).toFixed(0)} ms, p50 ${percentile(virsh, 0.5).toFixed(0)} ms, p99 ${percentile(virsh, 0.99).toFixed(0)} ms`,
);
console.log(`  ratio agent/virsh: ${ratio.toFixed(2)} (target <= 1.2)`);
console.log(
  JSON.stringify({
    bench: 'domain-ops',
    n: N,
    p50_ms: Math.round(percentile(agent, 0.5)),
    baseline_p50_ms: Math.round(percentile(virsh, 0.5)),
    total_ms: Math.round(sum(agent)),
    baseline_total_ms: Math.round(sum(virsh)),
    ratio: Number(ratio.toFixed(3)),
    target: { ratio: 1.2 },
  }),
);
