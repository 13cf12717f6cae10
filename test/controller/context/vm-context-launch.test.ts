// A VM launched with the CLI gets the context it was created with: the OpenNebula CD-ROM of a VM on a
// network carries its host name, static address and the user's extra variables (the test guest applies
// them and says so on its console), `vm wait` prints its address, and `stratus vm ssh` runs
// the SSH client to that address as the VM's login user with the arguments after `--`. A VM without a
// network gets a context CD-ROM too.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { deleteBridge } from '../../../drivers/net-links.ts';
import { NftBridgeFirewall } from '../../../drivers/nft.ts';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import { startController } from '../../helpers/controller-process.ts';
import { suffix } from '../../helpers/netns.ts';
import { waitFor } from '../../helpers/wait.ts';

t.test('vm create with a key and context variables; vm ssh; a VM without NICs has a context CD-ROM', async (t) => {
  const s = suffix();
  const bridge = `stbk${s}`;
  const octet = 1 + Math.floor(Math.random() * 250);
  const table = `stratus_k${s}`;
  const work = mkdtempSync(join(tmpdir(), 'stratus-ctxlaunch-'));
  chmodSync(work, 0o755); // dnsmasq reads its hosts file as nobody
  Object.assign(process.env, {
    STRATUS_CONTROLLER_NETWORK_DHCP_DIR: join(work, 'dhcp'),
    STRATUS_CONTROLLER_NETWORK_CONTEXT_FLAVOUR: 'opennebula',
    STRATUS_CONTROLLER_NETWORK_CONTEXT_ADDRESSING: 'static',
  });
  const c = await startController();
  t.teardown(async () => {
    await c.cleanup();
    await new NftBridgeFirewall(table).deleteTable().catch(() => undefined);
    await deleteBridge(bridge).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });
  await c.agent('hv-ctx', { extraToml: `[network]\nfirewall_table = "${table}"\n` });
  await uploadTestGuest(c, 'guest', 'stratus.dhcp=0');
  const net = await c.request('POST', '/v1/networks', {
    name: `net-${s}`,
    bridge,
    ipv4: { cidr: `10.214.${octet}.0/24`, gateway: `10.214.${octet}.1` },
  });
  t.equal(net.status, 201, net.body.title ?? 'network created');

  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-f', join(work, 'id')]);
  const fp = execFileSync('ssh-keygen', ['-lf', join(work, 'id.pub')], { encoding: 'utf8' }).split(' ')[1]!;
  t.equal((await c.cli(['key', 'add', 'mine', join(work, 'id.pub')])).code, 0, 'key added');
  writeFileSync(join(work, 'ud'), '#cloud-config\nruncmd: [["touch", "/run/ud"]]\n');

  const created = await c.cli([
    'vm',
    'create',
    'ctx-vm',
    '--type',
    't1.micro',
    '--image',
    'guest',
    '--net',
    `net-${s}`,
    '--login-user',
    'alice',
    '--user-data',
    join(work, 'ud'),
    '--context',
    'STRATUS_MARKER_WRITE=ctx-marker',
    '--json',
  ]);
  t.equal(created.code, 0, created.stderr);
  const id = JSON.parse(created.stdout).items[0].id as string;
  let last = '';
  await waitFor(
    'ctx-vm running',
    async () => {
      const v = (await c.request('GET', `/v1/vms/${id}`)).body;
      last = `${v.state}: ${v.reason}`;
      if (v.state === 'failed') throw new Error(`ctx-vm failed: ${v.reason}\n${c.output().slice(-3000)}`);
      return v.state === 'running' ? true : undefined;
    },
    300_000,
    1000,
  ).catch((err) => {
    throw new Error(`${(err as Error).message} (last: ${last})\n${c.output().slice(-3000)}`);
  });
  const ip = (await c.request('GET', `/v1/networks/${net.body.id}/leases`)).body.items[0].ipv4 as string;
  const waited = await c.cli(['vm', 'wait', id]);
  t.equal(waited.code, 0, waited.stderr);
  t.match(
    waited.stdout,
    new RegExp(`^${id} running ${ip.replace(/\./g, '\\.')}$`, 'm'),
    'vm wait prints the addresses',
  );
  const bare = await c.cli(['vm', 'create', 'bare-vm', '--type', 't1.micro', '--image', 'guest', '--json']);
  const bareId = JSON.parse(bare.stdout).items[0].id as string;

  const console = async (vm: string, what: RegExp) =>
    waitFor(
      `${vm}: ${what}`,
      async () => {
        const r = await c.cli(['vm', 'console', vm]);
        return r.code === 0 && what.test(r.stdout) ? r.stdout : undefined;
      },
      240_000,
      1000,
    );
  const out = await console(id, /STRATUS-GUEST-READY/);
  t.match(out, /^STRATUS-CONTEXT label=CONTEXT hostname=ctx-vm\r?$/m, 'OpenNebula context read, host name set');
  t.match(out, new RegExp(`^STRATUS-IP eth0 ${ip.replace(/\./g, '\\.')}`, 'm'), `static ${ip} from ETH0_IP`);
  t.match(out, /STRATUS-MARKER.*ctx-marker/, 'the extra context variable reached the guest');

  const show = await c.cli(['vm', 'show', id]);
  t.match(show.stdout, new RegExp(`addresses +\\["${ip.replace(/\./g, '\\.')}"\\]`));
  t.match(show.stdout, new RegExp(`key +mine ed25519 ${fp.replace(/[+/]/g, '\\$&')}`));

  const stub = join(work, 'fake-ssh');
  writeFileSync(stub, `#!/bin/sh\nprintf '%s\\n' "$@" > ${join(work, 'ssh-args')}\nexit 7\n`, { mode: 0o755 });
  process.env['STRATUS_SSH'] = stub;
  const ssh = await c.cli(['vm', 'ssh', id, '--', '-i', join(work, 'id'), 'uname', '-a']);
  delete process.env['STRATUS_SSH'];
  t.equal(ssh.code, 7, "vm ssh exits with ssh's exit code");
  t.same(readFileSync(join(work, 'ssh-args'), 'utf8').trim().split('\n'), [
    '-i',
    join(work, 'id'),
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-l',
    'alice',
    ip,
    'uname',
    '-a',
  ]);

  const bareOut = await console(bareId, /STRATUS-GUEST-READY/);
  t.match(bareOut, /^STRATUS-CONTEXT label=CONTEXT hostname=bare-vm\r?$/m, 'no NIC, still a context CD-ROM');
  const noAddr = await c.cli(['vm', 'ssh', bareId]);
  t.equal(noAddr.code, 1);
  t.match(noAddr.stderr, /has no address/);
  for (const vm of [id, bareId]) t.equal((await c.cli(['vm', 'delete', vm])).code, 0);
});
