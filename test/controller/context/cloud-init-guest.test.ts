// A stock Debian 12 cloud-init guest (scripts/build-debian-guest.sh) launched through the controller
// applies Stratus's context CD-ROM, in both flavours (OpenNebula and NoCloud datasources): cloud-init
// installs the user's key for the login user and the image's default user, sets the host name,
// configures the IPv4 and IPv6 addresses of the VM's leases, and runs the user data (a #cloud-config
// that writes a marker file; its runcmd prints what the guest has to the serial console).

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

t.setTimeout(1_200_000);
import { deleteBridge } from '../../../drivers/net-links.ts';
import { NftBridgeFirewall } from '../../../drivers/nft.ts';
import { startController } from '../../helpers/controller-process.ts';
import { debianGuest, uploadDebianGuest } from '../../helpers/debian-guest.ts';
import { suffix } from '../../helpers/netns.ts';
import { waitFor } from '../../helpers/wait.ts';

const METHODS = ['opennebula', 'nocloud'] as const;

/** User data whose runcmd reports to the console: marker file, host name, authorized keys, addresses. */
function userData(marker: string, users: string[]): string {
  const script = [
    'exec >/dev/ttyS0 2>&1',
    'echo "STRATUS-CI-MARKER $(cat /var/lib/stratus-ci/marker)"',
    'echo "STRATUS-CI-HOSTNAME $(hostname)"',
    `for u in ${users.join(' ')}; do sed "s/^/STRATUS-CI-KEY $u /" "/home/$u/.ssh/authorized_keys"; done`,
    "ip -br addr | sed 's/^/STRATUS-CI-ADDR /'",
    'echo STRATUS-CI-DONE',
  ].join('\n');
  return [
    '#cloud-config',
    'write_files:',
    '  - path: /var/lib/stratus-ci/marker',
    `    content: ${JSON.stringify(`${marker}\n`)}`,
    'runcmd:',
    `  - ["sh", "-c", ${JSON.stringify(script)}]`,
    '',
  ].join('\n');
}

const lines = (out: string, tag: string) =>
  [...out.matchAll(new RegExp(`${tag} (.*?)\\r?$`, 'gm'))].map((m) => m[1]!.trim());

t.test('a Debian cloud-init guest applies the OpenNebula and the NoCloud context CD-ROM', async (t) => {
  const guest = debianGuest();
  const s = suffix();
  const bridge = `stci${s}`;
  const octet = 1 + Math.floor(Math.random() * 250);
  const p6 = `fd00:216:${octet.toString(16)}::`;
  const table = `stratus_ci${s}`;
  const work = mkdtempSync(join(tmpdir(), 'stratus-cloudinit-'));
  chmodSync(work, 0o755); // dnsmasq reads its hosts file as nobody
  Object.assign(process.env, {
    STRATUS_CONTROLLER_NETWORK_DHCP_DIR: join(work, 'dhcp'),
    STRATUS_CONTROLLER_NETWORK_CONTEXT_ADDRESSING: 'static',
  });
  const c = await startController();
  t.teardown(async () => {
    await c.cleanup();
    await new NftBridgeFirewall(table).deleteTable().catch(() => undefined);
    await deleteBridge(bridge).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });
  await c.agent('hv-ci', { extraToml: `[network]\nfirewall_table = "${table}"\n` });
  await uploadDebianGuest(c, 'debian');
  const net = await c.request('POST', '/v1/networks', {
    name: `net-${s}`,
    bridge,
    ipv4: { cidr: `10.216.${octet}.0/24`, gateway: `10.216.${octet}.1` },
    ipv6: { prefix: `${p6}/64`, rangeStart: `${p6}100`, rangeEnd: `${p6}1ff`, gateway: `${p6}1` },
  });
  t.equal(net.status, 201, net.body.title ?? 'network created');

  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', `ci-${s}`, '-f', join(work, 'id')]);
  const pub = readFileSync(join(work, 'id.pub'), 'utf8').trim();
  t.equal((await c.cli(['key', 'add', 'mine', join(work, 'id.pub')])).code, 0, 'key added');

  // both VMs boot at once: cloud-init under TCG takes minutes, most of it Python starting four times
  const vms = await Promise.all(
    METHODS.map(async (method) => {
      const marker = `ud-${method}-${s}`;
      writeFileSync(join(work, `ud-${method}`), userData(marker, ['alice', guest.defaultUser]));
      const name = `ci-${method}`;
      const r = await c.cli([
        ...['vm', 'create', name, '--type', 't1.micro', '--image', 'debian', '--net', `net-${s}`],
        ...['--key', 'mine', '--login-user', 'alice', '--user-data', join(work, `ud-${method}`)],
        ...['--context-method', method, '--json'],
      ]);
      t.equal(r.code, 0, `${method}: vm create ${r.stderr}`.trim());
      return { method, marker, name, id: JSON.parse(r.stdout).items[0].id as string };
    }),
  );
  const leases = (await c.request('GET', `/v1/networks/${net.body.id}/leases`)).body.items as {
    vmId: string;
    ipv4: string;
    ipv6: string;
  }[];

  await Promise.all(
    vms.map(async (vm) => {
      const started = Date.now();
      const out = await waitFor(
        `${vm.name}: cloud-init's runcmd reported`,
        async () => {
          const v = (await c.request('GET', `/v1/vms/${vm.id}`)).body;
          if (v.state === 'failed') throw new Error(`${vm.name} failed: ${v.reason}`);
          const r = await c.request('GET', `/v1/vms/${vm.id}/console?bytes=1048576`);
          return typeof r.body === 'string' && /STRATUS-CI-DONE/.test(r.body) ? r.body : undefined;
        },
        540_000,
        2000,
      ).catch(async (err) => {
        const con = await c.request('GET', `/v1/vms/${vm.id}/console`);
        throw new Error(`${(err as Error).message}\n--- console:\n${String(con.body).slice(-4000)}`);
      });
      t.comment(`${vm.method}: cloud-init's user data ran ${Math.round((Date.now() - started) / 1000)} s after create`);
      const lease = leases.find((l) => l.vmId === vm.id)!;
      t.ok(lease?.ipv4 && lease.ipv6, `${vm.method}: the VM has an IPv4 and an IPv6 lease`);
      t.same(lines(out, 'STRATUS-CI-MARKER'), [vm.marker], `${vm.method}: the user data wrote its marker`);
      t.same(lines(out, 'STRATUS-CI-HOSTNAME'), [vm.name], `${vm.method}: host name set`);
      const keys = lines(out, 'STRATUS-CI-KEY');
      t.ok(keys.includes(`alice ${pub}`), `${vm.method}: the key is in the login user's authorized_keys`);
      t.ok(keys.includes(`${guest.defaultUser} ${pub}`), `${vm.method}: and in the default user's`);
      const nic = lines(out, 'STRATUS-CI-ADDR').find((l) => !l.startsWith('lo '));
      t.ok(nic?.split(/\s+/).includes(`${lease.ipv4}/24`), `${vm.method}: ${lease.ipv4}/24 configured (${nic})`);
      t.ok(nic?.split(/\s+/).includes(`${lease.ipv6}/64`), `${vm.method}: ${lease.ipv6}/64 configured (${nic})`);
    }),
  );
  for (const vm of vms) t.equal((await c.cli(['vm', 'delete', vm.id])).code, 0, `${vm.name} deleted`);
});
