// bench/migrate: live migration of a 256 MiB TCG guest that keeps dirtying memory (it rewrites a 64 MiB
// file in its RAM in a loop and prints a tick every 100 ms), between the two hosts of the lab
// (docs/lab.md). Stratus (`POST /v1/vms/{id}/migrate`: controller, MQTT, agents, prepare on the target,
// virDomainMigrateToURI3 with the overlay copied incrementally) against `virsh migrate --live --p2p
// --persistent --undefinesource --copy-storage-inc --auto-converge` of a domain with the same
// configuration and the same downtime limit, the two interleaved, back and forth, N times each (default 5).
// JSON: p50 of the wall time of each, their ratio, and the p50 of libvirt's measured downtime of Stratus's.
// Targets: ratio <= 1.1, downtime <= 500 ms.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { uploadTestGuest } from '../test/helpers/cloud-images.ts';
import { testGuest } from '../test/helpers/guest.ts';
import type { LabHost } from '../test/helpers/lab.ts';
import { startLabSite } from '../test/helpers/lab-site.ts';
import { waitFor } from '../test/helpers/wait.ts';

const run = promisify(execFile);
const N = Number(process.argv[2] ?? 5);
const MEMORY_MIB = 256;
const DOWNTIME_MS = 500;
// the guest's init is a shell loop (no Stratus init): a memory dirtier and a tick on the console
const DIRTY =
  'rdinit=/bin/sh -- -c "mount -t devtmpfs d /dev; mount -t tmpfs t /mnt; ' +
  '(while :; do dd if=/dev/zero of=/mnt/d bs=1M count=64 2>/mnt/e; done) & ' +
  'n=0; while :; do n=$((n+1)); echo BENCH-TICK $n; usleep 100000; done"';
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const say = (s: string) => process.stdout.write(`${s}\n`);

// The baseline domain restarts on a guest reboot, as Stratus's domains do (on_reboot restart): its test
// guest (panic=-1) rebooted now and then after a move, and with on_reboot destroy the next run found it
// shut off.
function baselineXml(host: LabHost, name: string, uuid: string): string {
  const g = testGuest();
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<domain type='qemu'><name>${name}</name><uuid>${uuid}</uuid><memory unit='MiB'>${MEMORY_MIB}</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><kernel>${g.kernel}</kernel><initrd>${g.initrd}</initrd>
<cmdline>${esc(`${g.cmdline} ${DIRTY}`)}</cmdline></os><on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2' discard='unmap'/><source file='${host.dir}/agent/${name}.qcow2'/><target dev='vda' bus='virtio'/></disk>
<serial type='pty'><log file='${host.dir}/console/${name}.log' append='on'/><target port='0'/></serial><console type='pty'/>
</devices></domain>`;
}

async function main(): Promise<void> {
  const site = await startLabSite({ controllerToml: '' });
  try {
    const [a, b] = site.lab.hosts as [LabHost, LabHost];
    const c = site.c;
    await uploadTestGuest(c, 'dirty', DIRTY);
    const type = await c.cli(['type', 'create', 'bench.m256', '--vcpus', '1', '--memory', String(MEMORY_MIB)]);
    if (type.code !== 0) throw new Error(type.stderr);
    const created = await c.cli([
      'vm',
      'create',
      'bench',
      '--type',
      'bench.m256',
      '--image',
      'dirty',
      '--wait',
      '--json',
    ]);
    if (created.code !== 0) throw new Error(created.stderr);
    const vm = JSON.parse(created.stdout).items[0] as { id: string; host: string };
    // the baseline domain, on host a, with an overlay of the same base on each host
    const name = `bench-virsh-${site.lab.tag}`;
    const uuid = randomUUID();
    for (const h of [a, b]) {
      await run('qemu-img', [
        'create',
        '-q',
        '-f',
        'qcow2',
        '-F',
        'qcow2',
        '-b',
        testGuest().disk,
        `${h.dir}/agent/${name}.qcow2`,
      ]);
      writeFileSync(join(h.dir, `${name}.xml`), baselineXml(h, name, uuid));
    }
    await a.virsh('define', join(a.dir, `${name}.xml`));
    await a.virsh('start', name);
    let virshOn = a;
    const stratusMs: number[] = [];
    const downtimes: number[] = [];
    const virshMs: number[] = [];
    const virshDowntimes: number[] = [];
    const ticking = (file: string) => {
      try {
        return /BENCH-TICK 20\b/.test(readFileSync(file, 'utf8'));
      } catch {
        return false;
      }
    };
    const agent = vm.host === site.hostIds['a'] ? site.agents['a']! : site.agents['b']!;
    await waitFor(
      'the guests to tick',
      () => ticking(join(agent.dir, 'console', `${vm.id}.log`)) && ticking(join(a.dir, 'console', `${name}.log`)),
      120_000,
      500,
    );
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const m = await c.request('POST', `/v1/vms/${vm.id}/migrate`, {});
      if (m.status !== 200) throw new Error(`stratus migrate: ${JSON.stringify(m.body)}`);
      stratusMs.push(performance.now() - t0);
      if (typeof m.body.downtimeMs === 'number') downtimes.push(m.body.downtimeMs);
      say(
        `stratus ${m.body.from} -> ${m.body.to}: ${Math.round(stratusMs.at(-1)!)} ms (libvirt's part ${m.body.durationMs} ms; steps ${JSON.stringify(m.body.stepsMs)}), downtime ${m.body.downtimeMs} ms`,
      );

      const to = virshOn === a ? b : a;
      await virshOn.virsh('migrate-setmaxdowntime', name, String(DOWNTIME_MS)).catch(async (err: Error) => {
        // the baseline guest is not running: say why (libvirt's reason, QEMU's log)
        const state = await virshOn.virsh('domstate', '--reason', name).catch((e: Error) => e.message);
        let qemuLog = '';
        try {
          qemuLog = readFileSync(join(virshOn.dir, 'log', 'qemu', `${name}.log`), 'utf8').slice(-1500);
        } catch {
          // none
        }
        let console = '';
        try {
          console = readFileSync(join(virshOn.dir, 'console', `${name}.log`), 'utf8').slice(-1500);
        } catch {
          // none
        }
        throw new Error(
          `baseline domain on ${virshOn.name}: ${err.message.trim()}; state ${state.trim()}\n${qemuLog}\nconsole:\n${console}`,
        );
      });
      const t1 = performance.now();
      await run(
        'ip',
        [
          'netns',
          'exec',
          virshOn.ns,
          'virsh',
          '-c',
          virshOn.peerUri,
          'migrate',
          '--live',
          '--p2p',
          '--persistent',
          '--undefinesource',
          '--copy-storage-inc',
          '--auto-converge',
          '--migrate-disks',
          'vda',
          '--xml',
          join(to.dir, `${name}.xml`),
          '--persistent-xml',
          join(to.dir, `${name}.xml`),
          name,
          to.peerUri,
          to.migrateUri,
        ],
        { timeout: 600_000 },
      );
      virshMs.push(performance.now() - t1);
      const info = await to.virsh('domjobinfo', '--completed', name).catch(() => '');
      const dt = /Total downtime:\s+(\d+)/.exec(info)?.[1];
      const stat = (label: string) => new RegExp(`${label}:\\s+(.+)`).exec(info)?.[1]?.trim() ?? '?';
      if (dt) virshDowntimes.push(Number(dt));
      say(
        `virsh   ${virshOn.name} -> ${to.name}: ${Math.round(virshMs.at(-1)!)} ms, downtime ${dt ?? '?'} ms ` +
          `(job ${stat('Time elapsed')}, memory ${stat('Memory processed')}, iterations ${stat('Iteration')}, ` +
          `disk ${stat('File processed')}, throttle ${stat('Auto converge throttle')})`,
      );
      virshOn = to;
    }
    const p50 = median(stratusMs);
    const base = median(virshMs);
    say(
      `stratus p50 ${Math.round(p50)} ms, virsh p50 ${Math.round(base)} ms; downtime p50 ${median(downtimes)} ms (virsh ${median(virshDowntimes)} ms)`,
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'migrate',
        runs: N,
        memory_mib: MEMORY_MIB,
        p50_ms: Math.round(p50),
        baseline_p50_ms: Math.round(base),
        ratio: Number((p50 / base).toFixed(2)),
        downtime_ms: downtimes.length ? median(downtimes) : null,
        baseline_downtime_ms: virshDowntimes.length ? median(virshDowntimes) : null,
      })}\n`,
    );
  } finally {
    // STRATUS_BENCH_LOGS=DIR keeps the controller's and agents' logs (where a move spends its time)
    const logs = process.env['STRATUS_BENCH_LOGS'];
    if (logs) {
      mkdirSync(logs, { recursive: true });
      writeFileSync(join(logs, 'controller.log'), site.c.output());
      for (const [h, a] of Object.entries(site.agents)) writeFileSync(join(logs, `agent-${h}.log`), a.output());
    }
    await site.cleanup();
  }
}

await main();
