// Real libvirtd shared by several real agents with distinct host ids: an agent only ever touches
// domains whose Stratus metadata carries its own host id. A domain of its host without a record is
// listed as unclaimed, removed after the grace period (an event says so) unless the controller claims
// it by resending the deploy with the key that made it; other hosts' domains are never touched.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildDomainXml } from '../../../agent/vm/domain-xml.ts';
import { specHash, topics } from '../../../protocol/mqtt/index.ts';
import type { VmSpec } from '../../../protocol/vm-spec.ts';
import { startAgent } from '../../helpers/agent-process.ts';
import { guestSpec } from '../../helpers/guest.ts';
import { virsh } from '../../helpers/libvirtd.ts';
import { startMosquitto } from '../../helpers/mosquitto.ts';
import { recorder } from '../../helpers/mqtt.ts';

function domainState(id: string): string | undefined {
  try {
    return execFileSync('virsh', ['-c', 'qemu:///system', 'domstate', `stratus-${id}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

/** Defines (not starts) a domain as the agent of `hostId` would have, without any agent knowing it. */
function defineOrphan(dir: string, spec: VmSpec, hostId: string, key?: string): void {
  const path = join(dir, `${spec.id}.xml`);
  writeFileSync(
    path,
    buildDomainXml(spec as never, {
      virtType: 'qemu',
      consoleLogPath: join(dir, `${spec.id}.log`),
      hostId,
      key,
      specHash: specHash(spec),
    }),
  );
  virsh('define', path);
}

function removeDomain(id: string): void {
  if (!domainState(id)) return;
  for (const args of [['destroy'], ['undefine']]) {
    try {
      execFileSync('virsh', ['-c', 'qemu:///system', ...args, `stratus-${id}`], { stdio: 'ignore' });
    } catch {}
  }
}

t.test(
  'two agents on one libvirtd never touch each other’s domains; orphans of this host go after grace',
  async (t) => {
    const broker = await startMosquitto();
    t.teardown(() => broker.cleanup());
    const tag = randomUUID().slice(0, 8);
    const hostA = `own-a-${tag}`;
    const hostB = `own-b-${tag}`;
    const rec = await recorder(broker.url, [`stratus/v1/hosts/${hostA}/#`, `stratus/v1/hosts/${hostB}/#`]);
    t.teardown(() => rec.end());
    const mqttToml = `[mqtt]\nurl = "${broker.url}"\nkeepalive_s = 5\nmetrics_interval_s = 1\nreconnect_max_s = 1\n`;
    const dir = t.testdir();

    // domains no agent has a record of: one made by host A, one by a host that has no agent here
    const orphanA = guestSpec({ name: 'orphan-a' });
    const orphanGone = guestSpec({ name: 'orphan-of-absent-host' });
    t.teardown(() => removeDomain(orphanA.id));
    t.teardown(() => removeDomain(orphanGone.id));
    defineOrphan(dir, orphanA, hostA);
    defineOrphan(dir, orphanGone, `absent-${tag}`);

    const a = await startAgent({ hostId: hostA, resyncS: 1, orphanGraceS: 3, extraToml: mqttToml });
    t.teardown(() => a.cleanup());
    const b = await startAgent({ hostId: hostB, resyncS: 1, orphanGraceS: 3, extraToml: mqttToml });
    t.teardown(() => b.cleanup());
    await Promise.all([a.waitReady(120_000), b.waitReady(120_000)]);
    const specA = guestSpec({ name: 'vm-of-a' });
    const specB = guestSpec({ name: 'vm-of-b' });
    t.teardown(() => removeDomain(specA.id));
    t.teardown(() => removeDomain(specB.id));
    t.equal((await a.request('POST', '/v1/vms', { spec: specA })).status, 201);
    t.equal((await b.request('POST', '/v1/vms', { spec: specB })).status, 201);

    const unclaimed = await rec.waitFor('A lists its orphan as unclaimed', (m) => {
      return m.topic === topics.hostInventory(hostA) && m.json?.unclaimed?.some((u: any) => u.vm === orphanA.id);
    });
    t.equal(unclaimed.json.unclaimed.length, 1, 'only its own orphan');
    t.equal(unclaimed.json.unclaimed[0].specHash, specHash(orphanA), 'with the spec hash from its metadata');
    await rec.waitFor('event: orphan of A removed', (m) => {
      return m.topic === topics.hostEvents(hostA) && m.json?.kind === 'vm.orphan-removed' && m.json.vm === orphanA.id;
    });
    t.equal(domainState(orphanA.id), undefined, "A's orphan was removed after the grace period");

    // both agents have compared everything several times since (the removal needed a full grace period)
    const after = Date.now();
    await rec.waitFor('B published metrics after that', (m) => m.topic === topics.vmMetrics(hostB) && m.at > after);
    t.equal(domainState(orphanGone.id), 'shut off', 'the domain of a host without an agent here is left alone');
    t.equal(domainState(specA.id), 'running', "A's VM runs");
    t.equal(domainState(specB.id), 'running', "B's VM runs");
    for (const [agent, own, other] of [
      [a, specA, specB],
      [b, specB, specA],
    ] as const) {
      const vms = (await agent.request('GET', '/v1/vms')).body.items as { id: string }[];
      t.same(
        vms.map((v) => v.id),
        [own.id],
        'each agent knows only its VM',
      );
      const unmanaged = (await agent.request('GET', '/v1/unmanaged-domains')).body.items as { uuid: string }[];
      t.notOk(
        unmanaged.some((u) => u.uuid === other.id || u.uuid === orphanGone.id),
        'and never lists another host’s domains as its own',
      );
    }
    const metricsB = await rec.waitFor(
      'B vm metrics',
      (m) => m.topic === topics.vmMetrics(hostB) && m.at > after && m.json?.vms,
    );
    t.same(
      metricsB.json.vms.map((v: any) => v.vm),
      [specB.id],
      'telemetry reports only the host’s own VMs',
    );
    t.equal((await a.request('DELETE', `/v1/vms/${specA.id}`)).status, 204);
    t.equal(domainState(specB.id), 'running', "deleting A's VM leaves B's alone");
    t.equal((await b.request('DELETE', `/v1/vms/${specB.id}`)).status, 204);
  },
);

t.test('the controller claims an unclaimed domain by resending the deploy with the key that made it', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.cleanup());
  const host = `claim-${randomUUID().slice(0, 8)}`;
  const rec = await recorder(broker.url, [`stratus/v1/hosts/${host}/#`]);
  t.teardown(() => rec.end());
  const dir = t.testdir();
  const spec = guestSpec({ name: 'claimed' });
  const key = `deploy:${spec.id}:3`;
  t.teardown(() => removeDomain(spec.id));
  defineOrphan(dir, spec, host, key);
  const agent = await startAgent({
    hostId: host,
    resyncS: 1,
    orphanGraceS: 3600,
    extraToml: `[mqtt]\nurl = "${broker.url}"\nkeepalive_s = 5\nreconnect_max_s = 1\n`,
  });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const inv = await rec.waitFor('inventory lists the unclaimed domain', (m) => {
    return m.topic === topics.hostInventory(host) && m.json?.unclaimed?.some((u: any) => u.vm === spec.id);
  });
  t.equal(inv.json.unclaimed[0].key, key, 'with the key recorded in its metadata');

  const send = (args: unknown, k: string) => {
    const id = randomUUID();
    const msg = { v: 1, ts: Date.now(), id, key: k, command: 'deploy', args, deadline: Date.now() + 60_000 };
    rec.client.publish(topics.command(host, 'deploy'), JSON.stringify(msg), { qos: 1 });
    return rec
      .waitFor('result', (m) => m.topic === topics.reply(host, id) && m.json?.type === 'result', 60_000)
      .then((m) => m.json);
  };
  const other = await send({ spec: { ...spec, memoryMiB: 256 }, start: true }, `deploy:${spec.id}:4`);
  t.equal(other.ok, false, 'another attempt with a different spec does not take it over');
  t.equal(other.error.code, 'STRATUS_ERR_CONFLICT');
  const claimed = await send({ spec, start: true }, key);
  t.equal(claimed.ok, true, `the deploy with its key adopts it: ${JSON.stringify(claimed.error ?? '')}`);
  t.equal(claimed.result.key, key);
  await rec.waitFor('inventory: the VM is now a recorded one', (m) => {
    return (
      m.topic === topics.hostInventory(host) &&
      m.json?.vms?.some((v: any) => v.vm === spec.id) &&
      m.json.unclaimed.length === 0
    );
  });
  t.equal(domainState(spec.id), 'running', 'adopted, and started as the deploy asked');
  t.equal(claimed.result.desired, 'running');
  t.equal((await agent.request('DELETE', `/v1/vms/${spec.id}`)).status, 204);
  t.equal(domainState(spec.id), undefined);
});
