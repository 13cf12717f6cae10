// bench/dhcp-churn: lease churn with a live dnsmasq. Stratus creates and releases the leases of 10,000
// VMs (in waves of concurrent requests, as API calls arrive) while its supervisor rewrites the hosts
// file and sends SIGHUP once per batch window. Baseline, in the same run: one hosts rewrite + SIGHUP per
// lease change, as Neutron's DHCP agent reloads port by port. Figure: VM lifecycles (create + release)
// per second, until dnsmasq has the final state. Usage: npm run bench -- dhcp-churn [vms] [baseline-vms]

import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../common/logger.ts';
import { openDatabase } from '../common/sqlite.ts';
import { DhcpSupervisor } from '../controller/network/dhcp-supervisor.ts';
import { IpamService } from '../controller/network/ipam.ts';
import { deleteBridge } from '../drivers/net-links.ts';

const VMS = Number(process.argv[2] ?? 10_000);
const BASELINE_VMS = Number(process.argv[3] ?? 1000);
const WAVE = 100;
const log = createLogger('bench', 'warn');

async function run(vms: number, batchMs: number, perChange: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-dhcp-'));
  chmodSync(dir, 0o755);
  const db = openDatabase(join(dir, 'controller.db'));
  const ipam = new IpamService(db, log);
  const dhcp = new DhcpSupervisor({ ipam, log, stateDir: join(dir, 'dhcp'), batchMs });
  const bridge = `stbb${Math.random().toString(16).slice(2, 8)}`;
  try {
    await dhcp.start();
    const net = ipam.createNetwork({
      name: 'bench',
      bridge,
      ipv4: { cidr: '10.214.0.0/16', gateway: '10.214.0.1' },
      ipv6: { prefix: 'fd00:214::/64', rangeStart: 'fd00:214::1:0', rangeEnd: 'fd00:214::ffff:ffff' },
    });
    await dhcp.restart(net.id);
    const ids = Array.from({ length: vms }, () => randomUUID());
    const t0 = performance.now();
    for (const phase of ['create', 'release'] as const) {
      for (let i = 0; i < vms; i += WAVE) {
        for (const vmId of ids.slice(i, i + WAVE)) {
          if (phase === 'create') ipam.allocate(net.id, { vmId });
          else ipam.releaseVm(vmId);
          if (perChange) await dhcp.flush(net.id);
        }
        await new Promise((r) => setImmediate(r)); // the next wave of requests
      }
    }
    await dhcp.flush(net.id); // dnsmasq has the final state
    const ms = performance.now() - t0;
    const st = dhcp.status(net.id)!;
    if (!st.running) throw new Error(`dnsmasq not running at the end: ${st.lastError}`);
    return { ms, vmPerS: (vms * 1000) / ms, reloads: st.reloads };
  } finally {
    await dhcp.stop();
    db.close();
    await deleteBridge(bridge);
    rmSync(dir, { recursive: true, force: true });
  }
}

const stratus = await run(VMS, 50, false);
console.log(
  `stratus : ${VMS} VMs created+released in ${stratus.ms.toFixed(0)} ms -> ${stratus.vmPerS.toFixed(0)} VM/s, ${stratus.reloads} dnsmasq reloads (batched every 50 ms)`,
);
const baseline = await run(BASELINE_VMS, 0, true);
console.log(
  `baseline: ${BASELINE_VMS} VMs created+released in ${baseline.ms.toFixed(0)} ms -> ${baseline.vmPerS.toFixed(0)} VM/s, ${baseline.reloads} reloads (one per lease change)`,
);
console.log(
  JSON.stringify({
    bench: 'dhcp-churn',
    vms: VMS,
    vm_per_s: Math.round(stratus.vmPerS),
    reloads: stratus.reloads,
    baseline_vm_per_s: Math.round(baseline.vmPerS),
    ratio: Number((stratus.vmPerS / baseline.vmPerS).toFixed(2)),
    target: { vm_per_s: 100 },
  }),
);
