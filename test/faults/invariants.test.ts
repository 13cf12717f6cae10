// tier: unit
// The invariant checker of the fault-injection work (test/faults/invariants.ts): a consistent site has no
// violation, and each kind of inconsistency is named.
import t from 'tap';
import { checkInvariants, countByKind, type WorldSnapshot } from './invariants.ts';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

function consistent(): WorldSnapshot {
  return {
    controllerVms: [
      { id: A, state: 'running', host: 'h1' },
      { id: B, state: 'stopped', host: 'h2' },
    ],
    leases: [
      { vm: A, mac: '52:54:00:00:00:0a', ipv4: '10.0.0.10', network: 'n' },
      { vm: B, mac: '52:54:00:00:00:0b', ipv4: '10.0.0.11', network: 'n' },
    ],
    agentVms: { h1: [{ id: A, state: 'running' }], h2: [{ id: B, state: 'shutoff' }] },
    domains: {
      h1: [{ vm: A, state: 'running', macs: ['52:54:00:00:00:0a'] }],
      h2: [{ vm: B, state: 'shutoff', macs: ['52:54:00:00:00:0b'] }],
    },
    vmFiles: { h1: [A], h2: [B] },
    chains: { h1: [A] },
    volumeArtifacts: [{ kind: 'target', owner: 'vol-1', wanted: true }],
    contextIsos: [A, B],
    dhcpHosts: [
      { mac: '52:54:00:00:00:0a', ipv4: '10.0.0.10' },
      { mac: '52:54:00:00:00:0b', ipv4: '10.0.0.11' },
      { mac: '52:54:00:00:00:0c', ipv4: '10.0.0.12' },
    ],
    heldMacs: ['52:54:00:00:00:0c'],
  };
}

t.test('a consistent site has no violation', async (t) => {
  t.same(checkInvariants(consistent()), []);
});

t.test('each inconsistency is named by its kind', async (t) => {
  const cases: [string, (w: WorldSnapshot) => void][] = [
    ['vm-in-two-places', (w) => w.domains['h2']!.push({ vm: A, state: 'running', macs: [] })],
    ['domain-without-vm', (w) => (w.controllerVms = w.controllerVms.filter((v) => v.id !== B))],
    ['running-without-domain', (w) => (w.domains['h1'] = [])],
    ['lease-without-vm', (w) => w.leases.push({ vm: 'gone', mac: '52:54:00:00:00:ff', ipv4: null, network: 'n' })],
    ['duplicate-ip', (w) => (w.leases[1]!.ipv4 = '10.0.0.10')],
    ['nic-without-lease', (w) => (w.leases = w.leases.filter((l) => l.vm !== A))],
    ['orphan-file', (w) => w.vmFiles!['h1']!.push(B)],
    ['orphan-chain', (w) => (w.chains!['h2'] = [A])],
    ['orphan-target', (w) => w.volumeArtifacts!.push({ kind: 'target', owner: 'vol-2', wanted: false })],
    ['orphan-iso', (w) => w.contextIsos!.push('gone')],
    ['dhcp-host-without-lease', (w) => w.dhcpHosts!.push({ mac: '52:54:00:00:00:ff', ipv4: '10.0.0.99' })],
    ['lease-without-dhcp-host', (w) => w.dhcpHosts!.shift()],
  ];
  for (const [kind, breakIt] of cases) {
    const w = consistent();
    breakIt(w);
    const found = checkInvariants(w);
    t.ok(
      found.some((v) => v.kind === kind),
      `${kind} found (${found.map((v) => v.kind).join(', ')})`,
    );
  }
  const w = consistent();
  w.domains['h2']!.push({ vm: A, state: 'running', macs: ['52:54:00:00:00:0a'] });
  t.match(countByKind(checkInvariants(w)), { 'vm-in-two-places': 1 });
});
