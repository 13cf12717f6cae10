// Host paths named by VM specs and file volumes must lie under [agent] allowed_roots once symlinks are
// resolved: /etc/shadow as a disk, a symlink in a root pointing at it, a CD-ROM or kernel outside the
// roots and a file volume outside them are refused with 403 naming the path and the roots, and nothing
// is left behind (no VM record, no domain).

import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startAgent } from '../../helpers/agent-process.ts';
import { GUEST_DIR, guestSpec } from '../../helpers/guest.ts';

const root = mkdtempSync(join(tmpdir(), 'stratus-roots-'));
const allowed = join(root, 'allowed');
mkdirSync(allowed);
const outside = join(root, 'outside');
mkdirSync(outside);
writeFileSync(join(outside, 'secret.raw'), 'not for guests');
symlinkSync('/etc/shadow', join(allowed, 'shadow-link.raw'));
symlinkSync(outside, join(allowed, 'outside-dir'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

t.test('the agent refuses host paths outside allowed_roots, symlinks resolved', async (t) => {
  const agent = await startAgent({ resyncS: 300, allowedRoots: [allowed, GUEST_DIR] });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();

  const refused = async (what: string, spec: unknown, path: string, resolved?: string) => {
    const r = await agent.request('POST', '/v1/vms', { spec, start: false });
    t.equal(r.status, 403, `${what}: 403`);
    t.equal(r.body.code, 'STRATUS_ERR_HOST_PATH_NOT_ALLOWED', `${what}: code`);
    t.match(r.body.title, path, `${what}: the message names the path`);
    t.match(r.body.title, allowed, `${what}: the message names the roots`);
    t.same(r.body.details.allowedRoots, [allowed, GUEST_DIR]);
    if (resolved) t.equal(r.body.details.resolved, resolved, `${what}: what it resolves to`);
  };
  await refused('/etc/shadow as a disk', guestSpec({ disks: [{ path: '/etc/shadow', format: 'raw' }] }), '/etc/shadow');
  await refused(
    'a symlink in a root pointing at /etc/shadow',
    guestSpec({ disks: [{ path: join(allowed, 'shadow-link.raw'), format: 'raw' }] }),
    join(allowed, 'shadow-link.raw'),
    '/etc/shadow',
  );
  await refused(
    'a file behind a symlinked directory',
    guestSpec({ disks: [{ path: join(allowed, 'outside-dir', 'secret.raw'), format: 'raw' }] }),
    join(allowed, 'outside-dir', 'secret.raw'),
    join(outside, 'secret.raw'),
  );
  await refused(
    'a dot-dot escape',
    guestSpec({ cdroms: [{ path: `${allowed}/../outside/secret.raw` }] }),
    `${allowed}/../outside/secret.raw`,
  );
  const g = guestSpec();
  await refused(
    'a kernel outside the roots',
    { ...g, boot: { ...g.boot, kernel: '/boot/../etc/passwd' } },
    '/boot/../etc/passwd',
  );
  const vms = await agent.request('GET', '/v1/vms');
  t.same(vms.body.items ?? vms.body, [], 'no VM was recorded');

  // a VM with nothing outside the roots is accepted (the test guest lives under GUEST_DIR)
  const ok = guestSpec();
  const created = await agent.request('POST', '/v1/vms', { spec: ok, start: false });
  t.equal(created.status, 201, JSON.stringify(created.body));
  t.teardown(() => agent.request('DELETE', `/v1/vms/${ok.id}`));

  // a file volume outside the roots, through a symlink
  const att = await agent.request('POST', `/v1/vms/${ok.id}/volumes`, {
    volumeId: randomUUID(),
    source: { type: 'file', path: join(allowed, 'outside-dir', 'secret.raw'), format: 'raw' },
  });
  t.equal(att.status, 403, JSON.stringify(att.body));
  t.equal(att.body.code, 'STRATUS_ERR_HOST_PATH_NOT_ALLOWED');
  t.match(att.body.title, /file volume path .*secret\.raw \(resolves to .*outside\/secret\.raw\) is not allowed/);
  const listed = await agent.request('GET', `/v1/vms/${ok.id}/volumes`);
  t.same(listed.body.items, [], 'no attachment was recorded');
});
