// bench/volumes: (1) attach and detach latency of an iSCSI volume on a running TCG guest through the
// volume service and the agent (ACL change in tgtd, libvirt secret, hot-plug, guest ack on unplug),
// with `virsh attach-device` / `detach-device-alias` of the same disk XML as the baseline in the same
// run; (2) sequential throughput (64 KiB requests, queue depth 8) with `qemu-img bench` through QEMU's
// iSCSI initiator vs the same backing file opened locally (buffered, as tgtd opens it).
// JSON: attach_p50_ms, attach_p99_ms, throughput_ratio (iSCSI / local, mean of read and write).
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { volumeDiskXml } from '../agent/volumes/disk-xml.ts';
import type { VmPlacement } from '../controller/volumes/ports.ts';
import { startAgent } from '../test/helpers/agent-process.ts';
import { guestSpec } from '../test/helpers/guest.ts';
import { startTgtd } from '../test/helpers/tgtd.ts';
import { agentApiHosts, HOST, startVolumeWorld, waitConsole } from '../test/helpers/volumes.ts';

const N = Number(process.argv[2] ?? 10);
const MIB = 512; // moved per throughput run
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const median = (xs: number[]) => percentile(xs, 0.5);
const virsh = (...args: string[]) =>
  execFileSync('virsh', ['-q', '-c', 'qemu:///system', ...args], { encoding: 'utf8' });

const initiator = `iqn.2024-01.org.stratus-bench:host.${randomUUID().slice(0, 6)}`;
const vms = new Map<string, VmPlacement>();
const tgtd = await startTgtd();
const agent = await startAgent({ resyncS: 300, extraToml: `[volumes]\ninitiator_name = "${initiator}"\n` });
await agent.waitReady();
const world = await startVolumeWorld({ tgtd, hosts: agentApiHosts(() => agent, vms) });
const svc = world.feature.service;
const spec = guestSpec({ name: 'bench-volumes' }, 'stratus.dhcp=0');
const vmId = spec.id;
try {
  if ((await agent.request('POST', '/v1/vms', { spec })).status !== 201) throw new Error('guest create failed');
  vms.set(vmId, { id: vmId, ownerId: 'bench', hostId: HOST, state: 'running' });
  await waitConsole(agent, vmId, /STRATUS-GUEST-READY/);

  // ---- attach / detach through Stratus
  const vol = await svc.create({ name: 'lat', sizeGiB: 1, shareable: false, readonly: false, tags: [] }, 'bench');
  const attach: number[] = [];
  const detach: number[] = [];
  for (let i = 0; i < N + 1; i++) {
    const t0 = performance.now();
    await svc.attach(vol.id, vmId);
    const t1 = performance.now();
    await svc.detach(vol.id, vmId);
    const t2 = performance.now();
    if (i === 0) continue; // warm-up
    attach.push(t1 - t0);
    detach.push(t2 - t1);
  }

  // ---- baseline: virsh with the same disk XML (secret and ACL prepared once, outside the timing)
  const rec = world.feature.store.get(vol.id)!;
  await world.feature.iscsi.setAccess(rec, [initiator]);
  const secretXml = join(world.dir, 'secret.xml');
  writeFileSync(
    secretXml,
    `<secret ephemeral='yes' private='yes'><usage type='iscsi'><target>bench-${vol.id}</target></usage></secret>`,
  );
  const defined = execFileSync('virsh', ['-c', 'qemu:///system', 'secret-define', secretXml], { encoding: 'utf8' });
  const secret = /([0-9a-f-]{36})/.exec(defined)![1]!;
  const pw = join(world.dir, 'pw');
  writeFileSync(pw, rec.chapSecret!);
  virsh('secret-set-value', secret, '--file', pw, '--plain');
  const diskXml = join(world.dir, 'disk.xml');
  writeFileSync(
    diskXml,
    volumeDiskXml(svc.attachmentFor(rec), { mode: 'qemu', device: 'vda', initiator, secretUuid: secret }),
  );
  const alias = `ua-volume-${vol.id}`;
  const vAttach: number[] = [];
  const vDetach: number[] = [];
  try {
    for (let i = 0; i < N + 1; i++) {
      const t0 = performance.now();
      virsh('attach-device', `stratus-${vmId}`, diskXml, '--live', '--config');
      const t1 = performance.now();
      virsh('detach-device-alias', `stratus-${vmId}`, alias, '--live', '--config');
      while (virsh('dumpxml', `stratus-${vmId}`).includes(alias)) await new Promise((r) => setTimeout(r, 100));
      const t2 = performance.now();
      if (i === 0) continue;
      vAttach.push(t1 - t0);
      vDetach.push(t2 - t1);
    }
  } finally {
    virsh('secret-undefine', secret);
  }
  await world.feature.iscsi.setAccess(rec, []);

  // ---- throughput: QEMU's iSCSI initiator vs the backing file, same requests
  const benchInitiator = 'iqn.2024-01.org.stratus-bench:qemu-img';
  await world.feature.iscsi.setAccess(rec, [benchInitiator]);
  const iscsiFile = `json:${JSON.stringify({
    driver: 'raw',
    file: {
      driver: 'iscsi',
      transport: 'tcp',
      portal: tgtd.portal,
      target: rec.iqn,
      lun: 1,
      user: rec.chapUser,
      password: rec.chapSecret,
      'initiator-name': benchInitiator,
    },
  })}`;
  const count = String((MIB * 1024) / 64);
  const run = (file: string, write: boolean, cache: string) => {
    const args = ['bench', '-c', count, '-d', '8', '-s', '65536', '-t', cache, ...(write ? ['-w'] : [])];
    if (!file.startsWith('json:')) args.push('-f', 'raw');
    const t0 = performance.now();
    execFileSync('qemu-img', [...args, file], { stdio: 'pipe' });
    return MIB / ((performance.now() - t0) / 1000);
  };
  const through = {
    iscsiRead: [] as number[],
    iscsiWrite: [] as number[],
    localRead: [] as number[],
    localWrite: [] as number[],
  };
  for (let i = 0; i < 3; i++) {
    through.iscsiWrite.push(run(iscsiFile, true, 'none'));
    through.localWrite.push(run(rec.location, true, 'writeback'));
    through.iscsiRead.push(run(iscsiFile, false, 'none'));
    through.localRead.push(run(rec.location, false, 'writeback'));
  }
  await world.feature.iscsi.setAccess(rec, []);

  const readRatio = median(through.iscsiRead) / median(through.localRead);
  const writeRatio = median(through.iscsiWrite) / median(through.localWrite);
  const f = (x: number) => x.toFixed(0);
  console.log(`volumes: ${N} attach+detach cycles of an iSCSI volume on a running TCG guest`);
  console.log(`  Stratus attach : p50 ${f(median(attach))} ms, p99 ${f(percentile(attach, 0.99))} ms`);
  console.log(
    `  Stratus detach : p50 ${f(median(detach))} ms, p99 ${f(percentile(detach, 0.99))} ms (until the guest released it)`,
  );
  console.log(`  virsh attach   : p50 ${f(median(vAttach))} ms; virsh detach p50 ${f(median(vDetach))} ms (same XML)`);
  console.log(`throughput: ${MIB} MiB sequential, 64 KiB requests, depth 8, median of 3 (MB/s)`);
  console.log(
    `  read : iSCSI ${f(median(through.iscsiRead))}, local ${f(median(through.localRead))}, ratio ${readRatio.toFixed(2)}`,
  );
  console.log(
    `  write: iSCSI ${f(median(through.iscsiWrite))}, local ${f(median(through.localWrite))}, ratio ${writeRatio.toFixed(2)}`,
  );
  console.log(
    JSON.stringify({
      bench: 'volumes',
      attach_p50_ms: Math.round(median(attach)),
      attach_p99_ms: Math.round(percentile(attach, 0.99)),
      detach_p50_ms: Math.round(median(detach)),
      baseline_attach_p50_ms: Math.round(median(vAttach)),
      baseline_detach_p50_ms: Math.round(median(vDetach)),
      attach_ratio: Number((median(attach) / median(vAttach)).toFixed(2)),
      read_mbps: { iscsi: Math.round(median(through.iscsiRead)), local: Math.round(median(through.localRead)) },
      write_mbps: { iscsi: Math.round(median(through.iscsiWrite)), local: Math.round(median(through.localWrite)) },
      throughput_ratio: Number(((readRatio + writeRatio) / 2).toFixed(2)),
      target: { attach_p50_ms: 1000 },
    }),
  );
  await svc.delete(vol.id);
} finally {
  await agent.request('DELETE', `/v1/vms/${vmId}`).catch(() => undefined);
  await agent.cleanup();
  await world.cleanup();
  await tgtd.stop();
}
