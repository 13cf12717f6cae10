// The volume service's rules through its REST routes, against a real private tgtd and stand-in agents:
// quotas (403), exclusive use and deletion in use (409), shareable volumes and ACLs that follow the
// attachments, failures that roll back or leave an error with a reason, restart recovery, and the
// restore of drifted or orphaned tgtd state.
import type { AddressInfo } from 'node:net';
import express from 'express';
import { pino } from 'pino';
import t from 'tap';
import { StratusError } from '../../../common/errors.ts';
import { notFoundRoute, problemHandler } from '../../../common/http-problem.ts';
import { AgentOutcomeUnknownError } from '../../../controller/volumes/errors.ts';
import { volumeRoutes } from '../../../controller/volumes/routes.ts';
import type { VmPlacement, VolumeHosts } from '../../../controller/volumes/ports.ts';
import type { AttachedVolume, VolumeAttachment } from '../../../protocol/volume.ts';
import { iscsiLs, startTgtd, type TgtdHandle } from '../../helpers/tgtd.ts';
import { startVolumeWorld, type VolumeWorld } from '../../helpers/volumes.ts';

const log = pino({ level: 'silent' });
const uuid = () => crypto.randomUUID();

/** Agents that do what they are told (or fail as the test says), and remember it. */
class FakeAgents implements VolumeHosts {
  readonly vms = new Map<string, VmPlacement>();
  readonly attached = new Map<string, VolumeAttachment>();
  fail: ((op: 'attach' | 'detach') => Error | undefined) | undefined;
  gate: Promise<void> | undefined;
  vm(id: string) {
    return this.vms.get(id);
  }
  async initiatorName(host: string) {
    return `iqn.2024-01.org.example:${host}`;
  }
  async attach(_host: string, vmId: string, a: VolumeAttachment): Promise<AttachedVolume> {
    await this.gate;
    const e = this.fail?.('attach');
    if (e) throw e;
    this.attached.set(`${vmId}/${a.volumeId}`, a);
    return { vmId, volumeId: a.volumeId, device: 'vdb', serial: 'x', mode: 'qemu', live: true, attachedAt: Date.now() };
  }
  async detach(_host: string, vmId: string, volumeId: string) {
    const e = this.fail?.('detach');
    if (e) throw e;
    this.attached.delete(`${vmId}/${volumeId}`);
  }
  addVm(owner: string, host: string | null = 'h1'): string {
    const id = uuid();
    this.vms.set(id, { id, ownerId: owner, hostId: host, state: host ? 'running' : 'pending' });
    return id;
  }
}

let tgtd: TgtdHandle;
let world: VolumeWorld;
let agents: FakeAgents;
let base: string;
let server: import('node:http').Server;

t.before(async () => {
  tgtd = await startTgtd();
  agents = new FakeAgents();
  world = await startVolumeWorld({
    tgtd,
    hosts: agents,
    config: { default_max_volumes: 3, default_max_gib: 5, tgtd_full_check_interval_s: 5 },
  });
  const app = express();
  app.use(express.json());
  // stand-in for the controller's bearer-token authentication: X-User names the principal
  app.use((req, res, next) => {
    const user = req.header('x-user') ?? 'alice';
    res.locals['principal'] = { id: user, name: user, role: user === 'admin' ? 'admin' : 'user' };
    next();
  });
  app.use('/v1', volumeRoutes(world.feature.service));
  app.use(notFoundRoute);
  app.use(problemHandler(log));
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
t.teardown(async () => {
  server?.close();
  await world?.cleanup();
  await tgtd?.stop();
});

async function api(method: string, path: string, body?: unknown, user = 'alice') {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', 'x-user': user },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : undefined };
}
const create = (name: string, extra: object = {}, user = 'alice') =>
  api('POST', '/volumes', { name, sizeGiB: 1, ...extra }, user);
const targetOf = async (iqn: string) => (await tgtd.tgt.targets()).find((x) => x.iqn === iqn);

t.test('create: an iSCSI volume is a tgtd target with one LUN, a CHAP account and no initiator allowed', async (t) => {
  const r = await create('first', { tags: ['project:x'] });
  t.equal(r.status, 201);
  t.match(r.body, {
    name: 'first',
    sizeGiB: 1,
    backend: 'iscsi',
    format: 'raw',
    state: 'available',
    tags: ['project:x'],
  });
  t.notOk('chapSecret' in r.body || JSON.stringify(r.body).includes(world.feature.store.get(r.body.id)!.chapSecret!));
  const tg = await targetOf(r.body.iqn);
  t.same(tg?.acl, []);
  t.same(tg?.accounts, [`stratus-${r.body.id}`]);
  t.equal(tg?.luns.find((l) => l.lun === 1)?.sizeMb, 1074);
  t.equal((await api('GET', `/volumes/${r.body.id}`)).body.id, r.body.id);
  t.equal((await api('GET', `/volumes/${r.body.id}`, undefined, 'mallory')).status, 404, 'not visible to others');
  t.equal((await api('GET', `/volumes/${r.body.id}`, undefined, 'admin')).status, 200, 'visible to admins');
  t.equal((await api('DELETE', `/volumes/${r.body.id}`)).status, 204);
  t.equal(await targetOf(r.body.iqn), undefined, 'target gone');
});

t.test('bad requests get a readable 4xx and make nothing', async (t) => {
  const before = (await tgtd.tgt.targets()).length;
  const bad = await api('POST', '/volumes', { name: 'x y', sizeGiB: 0 });
  t.equal(bad.status, 400);
  t.match(bad.type, 'application/problem+json');
  t.match(bad.body.title, /name.*sizeGiB|sizeGiB.*name/s);
  t.equal((await create('q', { format: 'qcow2' })).status, 422, 'qcow2 is not an iSCSI format');
  const sq = await create('sq', { backend: 'file', format: 'qcow2', shareable: true });
  t.equal(sq.status, 422);
  t.match(sq.body.title, /qcow2 cannot have two writers/);
  t.equal((await api('GET', `/volumes/${uuid()}`)).status, 404);
  // 64 TiB: more than ext4 lets one file be (a 500 once, found by the fuzzer)
  t.equal((await api('PUT', '/volume-quotas/hugo', { volumes: 4, gib: 100_000 }, 'admin')).status, 200);
  const huge = await create('huge', { sizeGiB: 65_536 }, 'hugo');
  t.equal(huge.status, 422, 'larger than the backing filesystem allows: a 422');
  t.match(huge.body.title, /does not fit the backing store/);
  t.equal((await tgtd.tgt.targets()).length, before);
});

t.test('quotas: the count and the GiB of a user are enforced with a 403 naming the limit', async (t) => {
  const user = `q${uuid().slice(0, 6)}`;
  t.equal((await create('a', { sizeGiB: 2 }, user)).status, 201);
  t.equal((await create('a', { sizeGiB: 1 }, user)).status, 409, 'names are unique per user');
  const big = await create('b', { sizeGiB: 4 }, user);
  t.equal(big.status, 403);
  t.match(big.body, { code: 'STRATUS_ERR_QUOTA', details: { what: 'volumeGiB', used: 2, asked: 4, limit: 5 } });
  t.equal((await create('b', { sizeGiB: 1 }, user)).status, 201);
  t.equal((await create('c', { sizeGiB: 1 }, user)).status, 201);
  const many = await create('d', { sizeGiB: 1 }, user);
  t.equal(many.status, 403);
  t.match(many.body, { details: { what: 'volumes', used: 3, limit: 3 } });
  t.match((await api('GET', '/volume-quota', undefined, user)).body, {
    limit: { volumes: 3, gib: 5 },
    used: { volumes: 3, gib: 4 },
  });
  t.equal((await api('PUT', `/volume-quotas/${user}`, { volumes: 4, gib: 5 }, user)).status, 403, 'admins only');
  t.equal((await api('PUT', `/volume-quotas/${user}`, { volumes: 4, gib: 5 }, 'admin')).status, 200);
  t.equal((await create('d', { sizeGiB: 1 }, user)).status, 201, 'raised quota');
  for (const v of (await api('GET', '/volumes', undefined, user)).body.items)
    t.equal((await api('DELETE', `/volumes/${v.id}`, undefined, user)).status, 204);
});

t.test(
  'exclusive use: attached elsewhere → 409, deleting while attached → 409; the ACL names only that host',
  async (t) => {
    const v = (await create('excl')).body;
    const vm1 = agents.addVm('alice', 'h1');
    const vm2 = agents.addVm('alice', 'h2');
    const a = await api('POST', `/volumes/${v.id}/attach`, { vmId: vm1 });
    t.equal(a.status, 200);
    t.match(a.body, { state: 'in-use', attachments: [{ vmId: vm1, hostId: 'h1', device: 'vdb', state: 'attached' }] });
    t.same((await targetOf(v.iqn))?.acl, ['iqn.2024-01.org.example:h1']);
    t.same(iscsiLs(tgtd.portal, 'iqn.2024-01.org.example:h2'), [], 'h2 cannot even discover it');

    const again = await api('POST', `/volumes/${v.id}/attach`, { vmId: vm2 });
    t.equal(again.status, 409);
    t.match(again.body, { code: 'STRATUS_ERR_VOLUME_IN_USE', details: { vmIds: [vm1] } });
    t.match(again.body.title, /not shareable and is attached to VM/);
    const del = await api('DELETE', `/volumes/${v.id}`);
    t.equal(del.status, 409);
    t.match(del.body.title, /detach it before deleting it/);
    t.equal(
      (await api('POST', `/volumes/${v.id}/attach`, { vmId: vm1 })).status,
      200,
      'attaching again to the same VM is a no-op',
    );

    const d = await api('POST', `/volumes/${v.id}/detach`, {});
    t.match(d.body, { state: 'available', attachments: [] });
    t.same((await targetOf(v.iqn))?.acl, []);
    t.equal((await api('POST', `/volumes/${v.id}/detach`, {})).status, 409, 'not attached');
    t.equal((await api('DELETE', `/volumes/${v.id}`)).status, 204);
  },
);

t.test('two attaches racing for an exclusive volume: one wins, the other gets 409', async (t) => {
  const v = (await create('race')).body;
  const vms = [agents.addVm('alice'), agents.addVm('alice', 'h2')];
  const results = await Promise.all(vms.map((vmId) => api('POST', `/volumes/${v.id}/attach`, { vmId })));
  t.same(results.map((r) => r.status).sort(), [200, 409]);
  await api('POST', `/volumes/${v.id}/detach`, {});
  await api('DELETE', `/volumes/${v.id}`);
});

t.test('a shareable volume attaches to VMs on two hosts; the ACL follows the attachments', async (t) => {
  const v = (await create('shared', { shareable: true })).body;
  const vm1 = agents.addVm('alice', 'h1');
  const vm2 = agents.addVm('alice', 'h2');
  const vm3 = agents.addVm('alice', 'h2');
  for (const vmId of [vm1, vm2, vm3]) t.equal((await api('POST', `/volumes/${v.id}/attach`, { vmId })).status, 200);
  t.same((await targetOf(v.iqn))?.acl.sort(), ['iqn.2024-01.org.example:h1', 'iqn.2024-01.org.example:h2']);
  t.equal(agents.attached.get(`${vm2}/${v.id}`)?.shareable, true);
  const which = await api('POST', `/volumes/${v.id}/detach`, {});
  t.equal(which.status, 400, 'which VM must be said');
  await api('POST', `/volumes/${v.id}/detach`, { vmId: vm2 });
  t.same(
    (await targetOf(v.iqn))?.acl.sort(),
    ['iqn.2024-01.org.example:h1', 'iqn.2024-01.org.example:h2'],
    'h2 still has vm3',
  );
  await api('POST', `/volumes/${v.id}/detach`, { vmId: vm1 });
  t.same((await targetOf(v.iqn))?.acl, ['iqn.2024-01.org.example:h2']);
  t.same(await world.feature.service.releaseVm(vm3), [v.id], 'deleting the VM releases it');
  t.match(world.feature.service.get(v.id), { state: 'available', attachments: [] });
  t.same((await targetOf(v.iqn))?.acl, []);
  await api('DELETE', `/volumes/${v.id}`);
});

t.test('VMs: unknown or not yours → 404, not placed yet → 409', async (t) => {
  const v = (await create('vmcheck')).body;
  t.equal((await api('POST', `/volumes/${v.id}/attach`, { vmId: uuid() })).status, 404);
  t.equal((await api('POST', `/volumes/${v.id}/attach`, { vmId: agents.addVm('mallory') })).status, 404);
  const pending = await api('POST', `/volumes/${v.id}/attach`, { vmId: agents.addVm('alice', null) });
  t.equal(pending.status, 409);
  t.match(pending.body.title, /runs on no host yet/);
  t.equal(world.feature.service.get(v.id).state, 'available');
  await api('DELETE', `/volumes/${v.id}`);
});

t.test('an agent that refuses the attach: everything rolled back, the reason kept', async (t) => {
  const v = (await create('refused')).body;
  const vm = agents.addVm('alice');
  agents.fail = () =>
    new StratusError('STRATUS_ERR_VOLUME_AUTH', 'the iSCSI target refused the CHAP credentials', { status: 502 });
  const r = await api('POST', `/volumes/${v.id}/attach`, { vmId: vm });
  agents.fail = undefined;
  t.equal(r.status, 502);
  t.equal(r.body.code, 'STRATUS_ERR_VOLUME_AUTH');
  t.match(world.feature.service.get(v.id), { state: 'available', attachments: [], reason: /refused the CHAP/ });
  t.same((await targetOf(v.iqn))?.acl, [], 'the ACL is narrowed again');
  t.equal((await api('POST', `/volumes/${v.id}/attach`, { vmId: vm })).status, 200, 'and it can be attached later');
  t.equal(world.feature.service.get(v.id).reason, '');
  await api('POST', `/volumes/${v.id}/detach`, {});
  await api('DELETE', `/volumes/${v.id}`);
});

t.test('an agent that does not answer: error with a reason; a detach settles it', async (t) => {
  const v = (await create('unknown')).body;
  const vm = agents.addVm('alice');
  agents.fail = (op) => (op === 'attach' ? new AgentOutcomeUnknownError('h1', 'volume.attach') : undefined);
  t.equal((await api('POST', `/volumes/${v.id}/attach`, { vmId: vm })).status, 504);
  agents.fail = undefined;
  const e = world.feature.service.get(v.id);
  t.match(e, { state: 'error', reason: /may or may not have happened/ });
  t.equal(
    (await api('POST', `/volumes/${v.id}/attach`, { vmId: agents.addVm('alice') })).status,
    409,
    'no attach in error',
  );
  t.equal((await api('POST', `/volumes/${v.id}/detach`, { vmId: vm })).status, 200);
  t.match(world.feature.service.get(v.id), { state: 'available', reason: '' });
  await api('DELETE', `/volumes/${v.id}`);
});

t.test('a guest that keeps the disk: the detach fails, the volume stays attached with the reason', async (t) => {
  const v = (await create('busy')).body;
  const vm = agents.addVm('alice');
  await api('POST', `/volumes/${v.id}/attach`, { vmId: vm });
  agents.fail = (op) =>
    op === 'detach'
      ? new StratusError('STRATUS_ERR_VOLUME_BUSY', 'the guest did not release the volume', { status: 409 })
      : undefined;
  t.equal((await api('POST', `/volumes/${v.id}/detach`, {})).status, 409);
  agents.fail = undefined;
  t.match(world.feature.service.get(v.id), {
    state: 'in-use',
    reason: /did not release/,
    attachments: [{ state: 'attached' }],
  });
  t.same((await targetOf(v.iqn))?.acl, ['iqn.2024-01.org.example:h1'], 'still reachable by its host');
  // the VM vanished from its host in the meantime (404 from the agent): the detach completes
  agents.fail = () => new StratusError('STRATUS_ERR_NOT_FOUND', 'VM not found', { status: 404 });
  t.equal((await api('POST', `/volumes/${v.id}/detach`, {})).status, 200);
  agents.fail = undefined;
  await api('DELETE', `/volumes/${v.id}`);
});

t.test('a controller restart settles what it interrupted', async (t) => {
  const s = world.feature.store;
  const svc = world.feature.service;
  const keep = (await create('keep')).body;
  const half = (await create('half')).body; // made, then "interrupted while deleting"
  s.setState(half.id, 'deleting');
  const vm = agents.addVm('alice');
  await svc.attach(keep.id, vm);
  s.updateAttachment(keep.id, vm, { state: 'detaching' });
  s.setState(keep.id, 'detaching');
  world = await world.restart();
  t.equal(world.feature.store.get(half.id), undefined, 'the interrupted delete was finished');
  t.equal(await targetOf(half.iqn), undefined);
  t.match(world.feature.service.get(keep.id), {
    state: 'error',
    reason: /restarted while detaching/,
    attachments: [{ vmId: vm, state: 'attached' }],
  });
  t.same((await targetOf(keep.iqn))?.acl, ['iqn.2024-01.org.example:h1'], 'its target restored as it was');
  await world.feature.service.detach(keep.id, vm);
  await world.feature.service.delete(keep.id);
});

t.test('the periodic comparison repairs drift and removes targets no volume owns', async (t) => {
  const v = await world.feature.service.create(
    { name: 'drift', sizeGiB: 1, shareable: false, readonly: false, tags: [] },
    'alice',
  );
  const tg = (await targetOf(v.iqn!))!;
  await tgtd.tgt.bindAddress(tg.tid, 'ALL'); // opened to everyone by hand
  await tgtd.tgt.unbindAccount(tg.tid, `stratus-${v.id}`); // CHAP dropped by hand
  const orphan = `${world.iqnPrefix}:volume-${uuid()}`;
  await tgtd.tgt.newTarget(900, orphan);
  const report = await world.feature.restoreTargets();
  t.match(report, { repaired: 1, removed: 1, failed: [] });
  const fixed = (await targetOf(v.iqn!))!;
  t.same(fixed.acl, []);
  t.same(fixed.accounts, [`stratus-${v.id}`]);
  t.equal(await targetOf(orphan), undefined);
  await world.feature.service.delete(v.id);
});
