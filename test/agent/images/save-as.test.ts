// Save-as on a real TCG guest: the disk of a running VM (live block copy) and of a stopped VM
// (qemu-img convert) becomes a standalone image; a new VM booted from it sees the first VM's marker.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startAgent } from '../../helpers/agent-process.ts';
import { waitConsole } from '../../helpers/console.ts';
import { guestSpec, testGuest } from '../../helpers/guest.ts';
import { startImageServer } from '../../helpers/image-server.ts';
import { sha } from '../../helpers/image-cache.ts';

const server = await startImageServer();
t.teardown(() => server.close());
const base = readFileSync(testGuest().disk);
server.serve('guest-disk.qcow2', { data: base });

/** The marker in sector 0 of an image, read with qemu-img (no guest needed). */
function markerOf(path: string): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-marker-'));
  try {
    const out = join(dir, 's0.raw');
    execFileSync('qemu-img', ['dd', '-f', 'qcow2', '-O', 'raw', 'bs=512', 'count=1', `if=${path}`, `of=${out}`]);
    const [magic, text] = readFileSync(out).toString('latin1').replace(/\0+$/, '').split('\n');
    return magic === 'STRATUS-MARKER-V1' ? text : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

t.test('save-as of a running guest, then a new VM booted from the saved image sees its marker', async (t) => {
  const agent = await startAgent({ resyncS: 300 });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const first = guestSpec(
    { name: 'origin', disks: [{ image: { sha256: sha(base), url: server.url('guest-disk.qcow2') } }] },
    'stratus.marker_write=SAVED-1 stratus.dhcp=0',
  );
  t.equal((await agent.request('POST', '/v1/vms', { spec: first })).status, 201);
  await waitConsole(agent, first.id, 0, /STRATUS-GUEST-READY/);

  const live = await agent.request('POST', `/v1/vms/${first.id}/save-as`, { name: 'golden' });
  t.equal(live.status, 201, JSON.stringify(live.body));
  t.match(live.body, { origin: 'save-as', name: 'golden', format: 'qcow2', users: 0 });
  const saved = join(agent.dir, 'state/images', live.body.sha256);
  t.equal(sha(readFileSync(saved)), live.body.sha256, 'its sha256 is that of the file');
  const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', saved], { encoding: 'utf8' }));
  t.notOk(info['backing-filename'], 'standalone: no backing file');
  t.equal(markerOf(saved), 'SAVED-1', 'the copy holds the marker');
  t.equal((await agent.request('GET', `/v1/vms/${first.id}`)).body.state, 'running', 'the VM kept running');
  t.match(
    execFileSync('virsh', ['-c', 'qemu:///system', 'domblklist', `stratus-${first.id}`], { encoding: 'utf8' }),
    join(agent.dir, 'state/instances', first.id, 'disk0.qcow2'),
    'and still uses its own disk (no pivot)',
  );

  const second = guestSpec({ name: 'clone', disks: [{ image: { sha256: live.body.sha256 } }] }, 'stratus.dhcp=0');
  t.equal((await agent.request('POST', '/v1/vms', { spec: second })).status, 201);
  const text = await waitConsole(agent, second.id, 0, /STRATUS-GUEST-READY/);
  t.match(text, /STRATUS-MARKER-FOUND SAVED-1/, 'the new VM sees the first VM marker');

  // a stopped VM's disk is flattened with qemu-img convert
  t.equal((await agent.request('POST', `/v1/vms/${second.id}/stop`, { force: true })).status, 200);
  const cold = await agent.request('POST', `/v1/vms/${second.id}/save-as`, {});
  t.equal(cold.status, 201, JSON.stringify(cold.body));
  t.equal(markerOf(join(agent.dir, 'state/images', cold.body.sha256)), 'SAVED-1');
  t.equal(cold.body.name, 'clone-disk0');

  const bad = await agent.request('POST', `/v1/vms/${second.id}/save-as`, { disk: 3 });
  t.equal(bad.status, 409);
  t.match(bad.body.title, /has no disk 3/);
  for (const vm of [first, second]) t.equal((await agent.request('DELETE', `/v1/vms/${vm.id}`)).status, 204);
  t.equal(
    (await agent.request('DELETE', `/v1/images/${live.body.sha256}`)).status,
    204,
    'unused once the VMs are gone',
  );
});
