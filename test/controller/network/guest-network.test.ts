// Real guests under TCG on a Stratus network: a controller process creates the network (its dnsmasq
// serves the bridge), leases addresses and builds context ISOs, which are downloaded through their
// token URLs as an agent would; an agent process boots two test guests with a NIC on the bridge
// (firewalled) and the ISO as CD-ROM. The NoCloud guest gets its lease by DHCP and its hostname from
// the context; the OpenNebula guest configures the leased address from context.sh. Deleting the VMs
// removes their firewall rules; releasing the leases empties the network. The agent's reconcile loop
// re-applies rules removed behind its back and removes those of unknown taps.

import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { tapName } from '../../../agent/vm/domain-xml.ts';
import { NftBridgeFirewall } from '../../../drivers/nft.ts';
import { deleteBridge } from '../../../drivers/net-links.ts';
import type { LeaseView } from '../../../protocol/network.ts';
import { type AgentHandle, startAgent } from '../../helpers/agent-process.ts';
import { waitConsole } from '../../helpers/console.ts';
import { type ControllerHandle, startController } from '../../helpers/controller-process.ts';
import { guestSpec } from '../../helpers/guest.ts';
import { suffix } from '../../helpers/netns.ts';
import { waitFor } from '../../helpers/wait.ts';

const s = suffix();
const bridge = `stbr${s}`;
const octet = 1 + Math.floor(Math.random() * 250);
const table = `stratus_g${s}`;
const work = mkdtempSync(join(tmpdir(), 'stratus-guestnet-'));
chmodSync(work, 0o755); // dnsmasq reads its hosts file as nobody

let c: ControllerHandle;
let agent: AgentHandle;

t.before(async () => {
  process.env['STRATUS_CONTROLLER_NETWORK_DHCP_DIR'] = join(work, 'dhcp');
  c = await startController();
  agent = await startAgent({ extraToml: `[network]\nfirewall_table = "${table}"\n` });
  await agent.waitReady();
});

t.teardown(async () => {
  await agent?.cleanup();
  await c?.cleanup();
  await new NftBridgeFirewall(table).deleteTable().catch(() => undefined);
  await deleteBridge(bridge).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

async function contextIso(body: object, file: string): Promise<string> {
  const built = await c.request('POST', '/v1/context', body);
  if (built.status !== 201) throw new Error(`context: ${built.status} ${built.body.title}`);
  // the agent's side: download through the token URL, with no user credentials
  const res = await fetch(`${c.url}/v1${built.body.url}`);
  if (res.status !== 200) throw new Error(`download: ${res.status}`);
  const path = join(work, file);
  writeFileSync(path, Buffer.from(await res.arrayBuffer()));
  return path;
}

t.test('guests on a Stratus network get their lease by DHCP or context and set their hostname', async (t) => {
  const net = await c.request('POST', '/v1/networks', {
    name: `guests-${s}`,
    bridge,
    ipv4: { cidr: `10.213.${octet}.0/24`, gateway: `10.213.${octet}.1`, dns: [`10.213.${octet}.53`] },
  });
  t.equal(net.status, 201, net.body.title ?? 'network created');
  await waitFor(
    'the network dnsmasq',
    async () => (await c.request('GET', `/v1/networks/${net.body.id}`)).body.dhcp?.running,
    10_000,
  );
  t.pass('its dnsmasq runs');

  const vms = [
    { id: randomUUID(), flavour: 'nocloud', hostname: 'ctx-dhcp', addressing: 'dhcp' },
    { id: randomUUID(), flavour: 'opennebula', hostname: 'ctx-one', addressing: 'static' },
  ];
  const leases: LeaseView[] = [];
  for (const vm of vms) {
    const l = await c.request('POST', `/v1/networks/${net.body.id}/leases`, { vmId: vm.id, hostname: vm.hostname });
    t.equal(l.status, 201);
    leases.push(l.body);
  }
  // the controller restarts: the leases are intact and its dnsmasq serves the network again
  c = await c.restart();
  const after = await c.request('GET', `/v1/networks/${net.body.id}/leases`);
  t.same(
    after.body.items.map((l: LeaseView) => [l.vmId, l.mac, l.ipv4]),
    leases.map((l) => [l.vmId, l.mac, l.ipv4]),
    'leases intact after a controller restart',
  );
  await waitFor(
    'the network dnsmasq after the restart',
    async () => (await c.request('GET', `/v1/networks/${net.body.id}`)).body.dhcp?.running,
    10_000,
  );
  const specs = await Promise.all(
    vms.map(async (vm, i) => {
      const iso = await contextIso(
        { vmId: vm.id, flavour: vm.flavour, hostname: vm.hostname, addressing: vm.addressing },
        `${vm.id}.iso`,
      );
      const l = leases[i]!;
      return guestSpec({
        id: vm.id,
        name: vm.hostname,
        nics: [
          {
            bridge,
            mac: l.mac!,
            network: `guests-${s}`,
            ipv4: [l.ipv4!],
            firewall: { antiSpoofing: true, inbound: [{ protocol: 'tcp', ports: '22' }] },
          },
        ],
        cdroms: [{ path: iso }],
      });
    }),
  );
  for (const spec of specs) {
    const r = await agent.request('POST', '/v1/vms', { spec });
    t.equal(r.status, 201, r.body.title ?? `VM ${spec.name} created`);
  }
  const [dhcpOut, oneOut] = await Promise.all([
    waitConsole(agent, vms[0]!.id, 0, /STRATUS-GUEST-READY/),
    waitConsole(agent, vms[1]!.id, 0, /STRATUS-GUEST-READY/),
  ]);
  t.match(dhcpOut, /^STRATUS-CONTEXT label=cidata hostname=ctx-dhcp\r?$/m, 'NoCloud context read, hostname set');
  t.match(
    dhcpOut,
    new RegExp(`^STRATUS-DHCP eth0 ${leases[0]!.ipv4!.replace(/\./g, '\\.')}\\r?$`, 'm'),
    'leased IP by DHCP',
  );
  t.match(oneOut, /^STRATUS-CONTEXT label=CONTEXT hostname=ctx-one\r?$/m, 'OpenNebula context read, hostname set');
  t.match(
    oneOut,
    new RegExp(`^STRATUS-IP eth0 ${leases[1]!.ipv4!.replace(/\./g, '\\.')}\\r?$`, 'm'),
    'leased IP from context.sh',
  );

  const fw = new NftBridgeFirewall(table);
  const taps = vms.map((vm) => tapName(vm.id, 0)).sort();
  t.same(await fw.listPorts(), taps, 'firewall rules on both taps');
  // the reconcile loop puts back rules removed behind the agent's back and drops rules of unknown taps
  await fw.removePort(taps[0]!);
  await fw.applyPort('st00000000-7', { fromPort: ['drop'], toPort: [] });
  await waitFor(
    'the reconcile loop',
    async () => JSON.stringify(await fw.listPorts()) === JSON.stringify(taps),
    15_000,
  );
  t.pass('rules re-applied and stale rules removed by the reconcile loop');
  for (const vm of vms) t.equal((await agent.request('DELETE', `/v1/vms/${vm.id}`)).status, 204);
  t.same(await fw.listPorts(), [], 'rules removed with the VMs');
  for (const l of leases) {
    t.equal((await c.request('DELETE', `/v1/networks/${net.body.id}/leases/${l.id}`)).status, 204);
  }
  t.equal((await c.request('GET', `/v1/networks/${net.body.id}/leases`)).body.items.length, 0, 'leases released');
  t.equal((await c.request('DELETE', `/v1/networks/${net.body.id}`)).status, 204, 'network deleted');
});
