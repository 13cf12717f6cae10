// The per-VM firewall with real nftables and real traffic: a namespace plays the VM behind its "tap" (a
// veth port of a bridge named like a tap), another namespace is a peer on the same bridge. Spoofed
// source IPs and MACs from the VM side are dropped; allowed inbound ports pass and others do not;
// removing the rules restores everything; applying twice changes nothing.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { nicRules } from '../../../agent/network/firewall-rules.ts';
import { bridgeConntrackSupported, NftBridgeFirewall } from '../../../drivers/nft.ts';
import { deleteBridge, ensureBridge, ip } from '../../../drivers/net-links.ts';
import { type NsClient, nsClient, suffix } from '../../helpers/netns.ts';

const run = promisify(execFile);
const s = suffix();
const bridge = `stbr${s}`;
const octet = 1 + Math.floor(Math.random() * 250);
const net = (n: number) => `10.213.${octet}.${n}`;
const fw = new NftBridgeFirewall(`stratus_t${s}`);
const VM_MAC = '02:13:00:00:00:05';

let vm: NsClient;
let peer: NsClient;
let vmPort: string;

const LISTENER = `
const net = require('node:net');
for (const p of [22, 23, 8080]) net.createServer((c) => c.end('hello ' + p + '\\n')).listen(p);
const dgram = require('node:dgram');
console.log('LISTENING');
`;

/** Whether a TCP connection from the peer to the VM succeeds within a second. */
async function tcpOpen(port: number): Promise<boolean> {
  const probe = `const s=require('node:net').connect({host:'${net(5)}',port:${port},timeout:1000});
s.on('data',()=>process.exit(0));s.on('timeout',()=>process.exit(2));s.on('error',()=>process.exit(3));`;
  return (await peer.exec([process.execPath, '-e', probe], 5000)).code === 0;
}

async function ping(from: NsClient, to: string, source?: string): Promise<boolean> {
  const args = ['busybox', 'ping', '-c', '1', '-W', '1', ...(source ? ['-I', source] : []), to];
  return (await from.exec(args, 5000)).code === 0;
}

t.before(async () => {
  await ensureBridge(bridge);
  vm = await nsClient(VM_MAC, bridge);
  peer = await nsClient('02:13:00:00:00:02', bridge);
  // name the VM's port like the tap libvirt makes
  vmPort = `st${s}-0`;
  await ip(['link', 'set', vm.hostDev, 'down']);
  await ip(['link', 'set', vm.hostDev, 'name', vmPort]);
  await ip(['link', 'set', vmPort, 'up']);
  await vm.exec(['ip', 'addr', 'add', `${net(5)}/24`, 'dev', 'eth0']);
  await vm.exec(['ip', 'addr', 'add', `${net(66)}/24`, 'dev', 'eth0']);
  await peer.exec(['ip', 'addr', 'add', `${net(2)}/24`, 'dev', 'eth0']);
  const child = execFile('ip', ['netns', 'exec', vm.ns, process.execPath, '-e', LISTENER]);
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  t.teardown(() => child.kill());
});

t.teardown(async () => {
  await fw.deleteTable();
  await vm?.cleanup();
  await peer?.cleanup();
  await run('ip', ['link', 'del', vmPort]).catch(() => undefined);
  await deleteBridge(bridge);
});

t.test('without rules everything passes, spoofed source included', async (t) => {
  t.ok(await ping(vm, net(2)), 'from the leased IP');
  t.ok(await ping(vm, net(2), net(66)), 'from another IP');
  t.ok(await tcpOpen(23));
});

t.test('anti-spoofing: only the leased IP and the MAC get through', async (t) => {
  const rules = nicRules({ mac: VM_MAC, ipv4: [net(5)], firewall: { antiSpoofing: true } }, { conntrack: false });
  await fw.applyPort(vmPort, rules);
  t.ok(await ping(vm, net(2)), 'leased IP passes');
  t.notOk(await ping(vm, net(2), net(66)), 'spoofed IP is dropped');
  await vm.exec(['ip', 'link', 'set', 'eth0', 'address', '02:13:00:00:00:99']);
  await vm.exec(['ip', 'neigh', 'flush', 'all']);
  await peer.exec(['ip', 'neigh', 'flush', 'all']);
  t.notOk(await ping(vm, net(2)), 'spoofed MAC is dropped');
  await vm.exec(['ip', 'link', 'set', 'eth0', 'address', VM_MAC]);
  t.ok(await ping(vm, net(2)), 'the right MAC passes again');
});

t.test('IPv6 anti-spoofing: the leased and link-local addresses pass, another source does not', async (t) => {
  const v6 = (n: number) => `fd00:213:${octet.toString(16)}::${n}`;
  await vm.exec(['ip', '-6', 'addr', 'add', `${v6(5)}/64`, 'dev', 'eth0', 'nodad']);
  await vm.exec(['ip', '-6', 'addr', 'add', `${v6(66)}/64`, 'dev', 'eth0', 'nodad']);
  await peer.exec(['ip', '-6', 'addr', 'add', `${v6(2)}/64`, 'dev', 'eth0', 'nodad']);
  await fw.applyPort(
    vmPort,
    nicRules({ mac: VM_MAC, ipv4: [net(5)], ipv6: [v6(5)], firewall: { antiSpoofing: true } }, { conntrack: false }),
  );
  const ping6 = (source: string) => vm.exec(['busybox', 'ping', '-6', '-c', '1', '-W', '2', '-I', source, v6(2)], 6000);
  t.equal((await ping6(v6(5))).code, 0, 'leased IPv6 passes');
  t.not((await ping6(v6(66))).code, 0, 'spoofed IPv6 is dropped');
});

t.test('security group: allowed ports and sources pass, others do not; replies to the VM pass', async (t) => {
  const conntrack = await bridgeConntrackSupported();
  const rules = nicRules(
    {
      mac: VM_MAC,
      ipv4: [net(5)],
      firewall: {
        antiSpoofing: true,
        inbound: [
          { protocol: 'tcp', ports: '22' },
          { protocol: 'tcp', ports: '8000-8100', source: `${net(2)}/32` },
          { protocol: 'tcp', ports: '23', source: `${net(200)}/32` },
        ],
      },
    },
    { conntrack },
  );
  await fw.applyPort(vmPort, rules);
  t.ok(await tcpOpen(22), 'port 22 open to all');
  t.ok(await tcpOpen(8080), '8080 open to the peer (allowed source)');
  t.notOk(await tcpOpen(23), 'port 23 only from another source: closed');
  t.notOk(await ping(peer, net(5)), 'ICMP not allowed inbound');
  t.ok(await ping(vm, net(2)), `the VM's own ping gets its reply (${conntrack ? 'conntrack' : 'stateless'})`);
});

t.test('applying twice is idempotent; list shows the port; removing restores traffic', async (t) => {
  const rules = nicRules(
    { mac: VM_MAC, ipv4: [net(5)], firewall: { antiSpoofing: true, inbound: [{ protocol: 'tcp', ports: '22' }] } },
    { conntrack: false },
  );
  await fw.applyPort(vmPort, rules);
  const once = await fw.portRules(vmPort);
  await fw.applyPort(vmPort, rules);
  t.same(await fw.portRules(vmPort), once, 'same rules after a second apply');
  t.equal(once.fromPort.length, rules.fromPort.length);
  t.same(await fw.listPorts(), [vmPort]);
  await run('nft', ['delete', 'table', 'bridge', fw.table]);
  await fw.applyPort(vmPort, rules);
  t.same(await fw.portRules(vmPort), once, 'the table is made again after it was removed behind our back');
  await fw.removePort(vmPort);
  await fw.removePort(vmPort);
  t.same(await fw.listPorts(), [], 'removed (twice is fine)');
  t.ok(await tcpOpen(23), 'port 23 open again');
  t.ok(await ping(vm, net(2), net(66)), 'any source again');
});
