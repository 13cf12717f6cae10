// A guest launched through the controller on its default network: the deploy hook leases an address,
// builds a NoCloud context CD-ROM and adds a firewalled NIC; the agent makes the bridge's rules and
// downloads the ISO through its token URL; the guest gets its lease by DHCP from the controller's
// dnsmasq, reads the context and sets its hostname (shown on the console). Deleting the VM releases
// its lease and its firewall rules.

import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { tapName } from '../../../agent/vm/domain-xml.ts';
import { NftBridgeFirewall } from '../../../drivers/nft.ts';
import { deleteBridge } from '../../../drivers/net-links.ts';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import { startController } from '../../helpers/controller-process.ts';
import { suffix } from '../../helpers/netns.ts';
import { waitFor } from '../../helpers/wait.ts';

t.test(
  'a guest launched through the controller gets its lease by DHCP, reads its context, sets its hostname',
  async (t) => {
    const s = suffix();
    const bridge = `stbr${s}`;
    const octet = 1 + Math.floor(Math.random() * 250);
    const table = `stratus_l${s}`;
    const work = mkdtempSync(join(tmpdir(), 'stratus-launchnet-'));
    chmodSync(work, 0o755); // dnsmasq reads its hosts file as nobody
    Object.assign(process.env, {
      STRATUS_CONTROLLER_NETWORK_DHCP_DIR: join(work, 'dhcp'),
      STRATUS_CONTROLLER_NETWORK_DEFAULT_NETWORK: `net-${s}`,
      STRATUS_CONTROLLER_NETWORK_CONTEXT_FLAVOUR: 'nocloud',
      STRATUS_CONTROLLER_NETWORK_CONTEXT_ADDRESSING: 'dhcp',
    });
    const c = await startController();
    t.teardown(async () => {
      await c.cleanup();
      await new NftBridgeFirewall(table).deleteTable().catch(() => undefined);
      await deleteBridge(bridge).catch(() => undefined);
      rmSync(work, { recursive: true, force: true });
    });
    await c.agent('hv-net', { extraToml: `[network]\nfirewall_table = "${table}"\n` });
    await uploadTestGuest(c);
    const net = await c.request('POST', '/v1/networks', {
      name: `net-${s}`,
      bridge,
      ipv4: { cidr: `10.213.${octet}.0/24`, gateway: `10.213.${octet}.1` },
    });
    t.equal(net.status, 201, net.body.title ?? 'network created');
    await waitFor(
      'the network dnsmasq',
      async () => (await c.request('GET', `/v1/networks/${net.body.id}`)).body.dhcp?.running,
      10_000,
    );

    const created = await c.request('POST', '/v1/vms', { name: 'net-vm1', type: 'm1.small', image: 'guest' });
    t.equal(created.status, 202, created.body.title ?? 'VM accepted');
    const vm = created.body.items[0];
    await waitFor(
      'the VM running',
      async () => (await c.request('GET', `/v1/vms/${vm.id}`)).body.state === 'running',
      120_000,
      500,
    );
    const leases = (await c.request('GET', `/v1/networks/${net.body.id}/leases`)).body.items;
    t.equal(leases.length, 1, 'one lease');
    t.equal(leases[0].vmId, vm.id);
    const ip = leases[0].ipv4 as string;
    const out = await waitFor(
      'the guest ready on the console',
      async () => {
        const r = await c.cli(['vm', 'console', vm.id]);
        return r.code === 0 && r.stdout.includes('STRATUS-GUEST-READY') ? r.stdout : undefined;
      },
      90_000,
      500,
    );
    t.match(out, /^STRATUS-CONTEXT label=cidata hostname=net-vm1\r?$/m, 'context read, hostname set');
    t.match(out, new RegExp(`^STRATUS-DHCP eth0 ${ip.replace(/\./g, '\\.')}\\r?$`, 'm'), `leased ${ip} by DHCP`);
    t.same(await new NftBridgeFirewall(table).listPorts(), [tapName(vm.id, 0)], 'its tap is firewalled');

    t.equal((await c.cli(['vm', 'delete', vm.id])).code, 0);
    await waitFor(
      'the lease released',
      async () => (await c.request('GET', `/v1/networks/${net.body.id}/leases`)).body.items.length === 0,
      30_000,
    );
    t.pass('lease released with the VM');
    t.same(await new NftBridgeFirewall(table).listPorts(), [], 'rules removed with the VM');
  },
);
