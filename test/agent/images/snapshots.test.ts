// VM snapshots on a real TCG guest booted from a cached image: a marker written after a snapshot is
// gone after revert (running and stopped snapshots), and snapshots survive an agent restart and a
// loss of libvirt's metadata.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startAgent } from '../../helpers/agent-process.ts';
import { consoleText, waitConsole } from '../../helpers/console.ts';
import { guestSpec, testGuest } from '../../helpers/guest.ts';
import { startImageServer } from '../../helpers/image-server.ts';
import { virsh } from '../../helpers/libvirtd.ts';
import { sha } from '../../helpers/image-cache.ts';
import { readFileSync } from 'node:fs';

const server = await startImageServer();
t.teardown(() => server.close());
const base = readFileSync(testGuest().disk);
server.serve('guest-disk.qcow2', { data: base });
const image = { sha256: sha(base), url: server.url('guest-disk.qcow2') };

/** Redefines the domain behind the agent's back with another marker to write at boot. */
function setMarker(id: string, from: string, to: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-dom-'));
  try {
    const xml = virsh('dumpxml', '--inactive', `stratus-${id}`).replace(`marker_write=${from}`, `marker_write=${to}`);
    writeFileSync(join(dir, 'd.xml'), xml);
    virsh('define', join(dir, 'd.xml'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

t.test('revert to a snapshot: a marker written after it is gone (running and stopped snapshots)', async (t) => {
  let agent = await startAgent({ resyncS: 300 });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const spec = guestSpec({ name: 'snap', disks: [{ image }] }, 'stratus.marker_write=A stratus.dhcp=0');
  const id = spec.id;
  const post = (path: string, body: unknown = {}) => agent.request('POST', `/v1/vms/${id}${path}`, body);
  t.equal((await agent.request('POST', '/v1/vms', { spec })).status, 201);
  await waitConsole(agent, id, 0, /STRATUS-MARKER-WRITTEN A\r?\n[\s\S]*STRATUS-GUEST-READY/);

  const live = await post('/snapshots', { name: 'live', description: 'after A' });
  t.equal(live.status, 201, JSON.stringify(live.body));
  t.match(live.body, { name: 'live', state: 'running', description: 'after A' });

  // marker B, written by the guest after the snapshot
  t.equal((await post('/stop', { force: true })).status, 200);
  setMarker(id, 'A', 'B');
  let from = (await consoleText(agent, id)).length;
  await post('/start');
  t.match(await waitConsole(agent, id, from, /STRATUS-MARKER-WRITTEN B/), /STRATUS-MARKER-FOUND A/, 'B over A');
  t.equal((await post('/stop', { force: true })).status, 200);

  const cold = await post('/snapshots', { name: 'cold' });
  t.match(cold.body, { name: 'cold', state: 'shutoff' });
  const dup = await post('/snapshots', { name: 'cold' });
  t.equal(dup.status, 409, 'names are unique');

  // snapshots survive an agent restart
  agent = await agent.restart();
  await agent.waitReady();
  const listed = await agent.request('GET', `/v1/vms/${id}/snapshots`);
  t.same(
    listed.body.items.map((s: { name: string; state: string }) => [s.name, s.state]),
    [
      ['live', 'running'],
      ['cold', 'shutoff'],
    ],
  );

  // revert to the running snapshot: memory and disk come back; a reset boots from the reverted disk
  const rev = await post('/snapshots/live/revert');
  t.equal(rev.status, 200, JSON.stringify(rev.body));
  t.equal((await agent.request('GET', `/v1/vms/${id}`)).body.state, 'running');
  from = (await consoleText(agent, id)).length;
  await post('/reset');
  const afterLive = await waitConsole(agent, id, from, /STRATUS-MARKER-WRITTEN/);
  t.match(afterLive, /STRATUS-MARKER-FOUND A\r?\n/, 'marker A is back');
  t.notMatch(afterLive, /STRATUS-MARKER-FOUND B/, 'marker B is gone');

  // revert to the stopped snapshot (taken with B; A was written again since)
  await post('/stop', { force: true });
  t.equal((await post('/snapshots/cold/revert')).status, 200);
  t.equal((await agent.request('GET', `/v1/vms/${id}`)).body.state, 'shutoff');
  from = (await consoleText(agent, id)).length;
  await post('/start');
  const afterCold = await waitConsole(agent, id, from, /STRATUS-MARKER-WRITTEN/);
  t.match(afterCold, /STRATUS-MARKER-FOUND B\r?\n/, 'the stopped snapshot holds B');
  await post('/stop', { force: true });

  // libvirt loses the metadata (as when a domain is defined again): the agent restores it
  virsh('snapshot-delete', `stratus-${id}`, 'live', '--metadata');
  t.notMatch(virsh('snapshot-list', '--name', `stratus-${id}`), /live/);
  const restored = await agent.request('GET', `/v1/vms/${id}/snapshots`);
  t.same(
    restored.body.items.map((s: { name: string }) => s.name),
    ['live', 'cold'],
  );
  t.match(virsh('snapshot-list', '--name', `stratus-${id}`), /live/, 'metadata redefined in libvirt');

  for (const name of ['live', 'cold']) {
    t.equal((await agent.request('DELETE', `/v1/vms/${id}/snapshots/${name}`)).status, 204);
  }
  t.same((await agent.request('GET', `/v1/vms/${id}/snapshots`)).body.items, []);
  t.equal((await agent.request('DELETE', `/v1/vms/${id}/snapshots/cold`)).status, 404);
  t.equal((await agent.request('DELETE', `/v1/vms/${id}`)).status, 204);

  // a raw disk cannot hold internal snapshots: refused up front
  const raw = guestSpec({ name: 'raw', disks: [{ path: testGuest().disk.replace(/qcow2$/, 'raw'), format: 'raw' }] });
  t.equal((await agent.request('POST', '/v1/vms', { spec: raw, start: false })).status, 201);
  const refused = await agent.request('POST', `/v1/vms/${raw.id}/snapshots`, {});
  t.equal(refused.status, 409);
  t.match(refused.body.title, /disk 0 is raw/);
  t.equal((await agent.request('DELETE', `/v1/vms/${raw.id}`)).status, 204);
});
