// Signed entries at launch, with a real controller, agent, libvirtd and the busybox TCG test guest:
// `vm create --image <Marketplace id>` runs the image its trusted entry vouches for; the agent checks
// the entry itself (its own allowed_signers file, re-read at each launch, refuses an endorser the
// controller trusts); revoking the key refuses new launches at once (422 at create, and a failed
// deploy not retried for an image named otherwise), and the running VM is flagged.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import { startController } from '../../helpers/controller-process.ts';
import { testGuest } from '../../helpers/guest.ts';
import { waitFor } from '../../helpers/wait.ts';

t.test('launch checks of signed entries: controller and agent, trust changes apply at once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-market-launch-'));
  const key = join(dir, 'alice');
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'alice', '-f', key]);
  const signers = join(dir, 'allowed_signers');
  writeFileSync(signers, `alice@example.org ${readFileSync(`${key}.pub`, 'utf8')}`);
  const c = await startController();
  t.teardown(async () => {
    await c.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  await c.agent('hv-market', { extraToml: `[images]\nallowed_signers = "${signers}"\n` });
  await uploadTestGuest(c, 'guest');

  const entry = join(dir, 'guest.json');
  const signed = await c.cli([
    'image',
    'sign',
    testGuest().disk,
    '--key',
    key,
    '--endorser',
    'alice@example.org',
    '--os',
    'busybox',
    '--valid-days',
    '7',
    '--out',
    entry,
  ]);
  t.equal(signed.code, 0, signed.stderr);
  const id = JSON.parse(readFileSync(entry, 'utf8')).id as string;
  t.equal((await c.cli(['market', 'trust', 'add', 'alice@example.org', `${key}.pub`])).code, 0);
  t.equal((await c.cli(['market', 'publish', entry])).code, 0);

  const ok = await c.cli(['vm', 'create', 'signed', '--type', 'm1.small', '--image', id, '--wait', '--json']);
  t.equal(ok.code, 0, `vm create --image <Marketplace id>: ${ok.stderr}`);
  const vm = JSON.parse(ok.stdout).items[0];
  t.equal(vm.state, 'running');

  // the agent's own trust: alice removed from its allowed_signers, the controller still trusts her
  writeFileSync(signers, '');
  const agentRefusal = await c.cli([
    'vm',
    'create',
    'agent-says-no',
    '--type',
    'm1.small',
    '--image',
    'guest',
    '--json',
  ]);
  t.equal(agentRefusal.code, 0);
  const refusedId = JSON.parse(agentRefusal.stdout).items[0].id;
  const failed = await waitFor(
    'the deploy to fail',
    async () => {
      const r = await c.request('GET', `/v1/vms/${refusedId}`);
      return r.body.state === 'failed' ? r.body : undefined;
    },
    120_000,
    250,
  );
  t.match(failed.reason, /rule: unknown-endorser/, 'the agent names the rule');
  t.match(failed.reason, /by alice@example.org/, 'and the endorser');
  t.equal(failed.events.filter((e: { to: string }) => e.to === 'deploying').length, 1, 'not retried on another host');
  writeFileSync(signers, `alice@example.org ${readFileSync(`${key}.pub`, 'utf8')}`);

  // revocation on the controller: refused at once, and the running VM is flagged
  const fp = (await c.request('GET', '/v1/marketplace/trust')).body.items.find(
    (k: { email: string }) => k.email === 'alice@example.org',
  ).fingerprint;
  t.equal((await c.cli(['market', 'trust', 'revoke', fp, '--reason', 'key leaked'])).code, 0);
  const create = await c.cli(['vm', 'create', 'after-revoke', '--type', 'm1.small', '--image', id]);
  t.equal(create.code, 1);
  t.match(create.stderr, /key leaked\) \(rule: revoked\)/);
  const byName = await c.cli(['vm', 'create', 'by-name', '--type', 'm1.small', '--image', 'guest', '--json']);
  const byNameId = JSON.parse(byName.stdout).items[0].id;
  const f2 = await waitFor(
    'the deploy to fail',
    async () => {
      const r = await c.request('GET', `/v1/vms/${byNameId}`);
      return r.body.state === 'failed' ? r.body : undefined;
    },
    60_000,
    250,
  );
  t.match(f2.reason, /rule: revoked/, 'an image with a revoked entry is refused at deploy, whatever it is called');
  const shown = await c.request('GET', `/v1/vms/${vm.id}`);
  t.equal(shown.body.state, 'running');
  t.match(shown.body.imageRefused, /rule: revoked/, 'the running VM is flagged');
});
