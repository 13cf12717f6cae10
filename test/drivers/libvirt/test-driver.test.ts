// Fast unit tests of the libvirt binding on libvirt's built-in test:///default driver (no daemon).
import t from 'tap';
import { LibvirtConnection, type LifecycleEventInfo, LibvirtError } from '../../../drivers/libvirt/index.ts';

const xml = (name: string) =>
  `<domain type='test'><name>${name}</name><memory>65536</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>`;

t.test('domain lifecycle, events, info and bulk stats on test:///default', async (t) => {
  const c = new LibvirtConnection({ uri: 'test:///default', workers: 2 });
  await c.open();
  t.teardown(() => c.close());
  const events: LifecycleEventInfo[] = [];
  c.on('lifecycle', (e) => events.push(e));
  const d = await c.defineDomain(xml('unit-1'));
  t.equal(d.name, 'unit-1');
  t.equal(d.state, 'shutoff');
  t.equal((await c.startDomain(d.uuid)).state, 'running');
  await c.suspendDomain(d.uuid);
  t.equal((await c.getDomain(d.uuid)).state, 'paused');
  await c.resumeDomain(d.uuid);
  const info = await c.domainInfo(d.uuid);
  t.equal(info.vcpus, 2);
  t.equal(info.maxMemKiB, 65536);
  const stats = await c.allDomainStats();
  const mine = stats.find((s) => s.uuid === d.uuid);
  t.ok(mine, 'bulk stats include the domain');
  t.equal(mine!.params['state.state'], 1, 'typed parameter decoded as a number');
  t.match(await c.domainXml(d.uuid), /<name>unit-1<\/name>/);
  t.ok((await c.listDomains()).some((x) => x.uuid === d.uuid));
  await c.destroyDomain(d.uuid);
  await c.undefineDomain(d.uuid, 0);
  await new Promise((r) => setTimeout(r, 100));
  t.same(
    events.filter((e) => e.uuid === d.uuid).map((e) => e.event),
    ['defined', 'started', 'suspended', 'resumed', 'stopped', 'undefined'],
    'every lifecycle change arrives as an event, in order',
  );
});

t.test('a libvirt failure carries libvirt code, domain and message', async (t) => {
  const c = new LibvirtConnection({ uri: 'test:///default', workers: 1 });
  await c.open();
  t.teardown(() => c.close());
  const err = await c.getDomain('00000000-0000-0000-0000-000000000000').catch((e) => e);
  t.ok(err instanceof LibvirtError);
  t.equal(err.virCode, 42, 'VIR_ERR_NO_DOMAIN');
  t.equal(err.code, 'STRATUS_ERR_LIBVIRT_NO_DOMAIN');
  t.equal(err.status, 404);
  t.match(err.message, /Domain not found/);
  const bad = await c.defineDomain('<domain type="test"><memory>1</memory></domain>').catch((e) => e);
  t.ok(bad instanceof LibvirtError);
  t.match(bad.message, /name/i, "libvirt's own message");
  t.equal(bad.operation, 'virDomainDefineXML');
});

t.test('many concurrent calls keep their own errors (thread-local errors read on the right thread)', async (t) => {
  const c = new LibvirtConnection({ uri: 'test:///default', workers: 4 });
  await c.open();
  t.teardown(() => c.close());
  // three kinds interleaved: success, "no domain" (code 42) and "XML error" (another code)
  const calls = Array.from({ length: 60 }, (_, i) =>
    i % 3 === 0
      ? c.defineDomain(xml(`conc-${i}`))
      : i % 3 === 1
        ? c.lookupDomainByName(`missing-${i}`)
        : c.defineDomain(`<domain type='test'><name>bad-${i}</name></domain-broken>`),
  );
  const results = await Promise.allSettled(calls);
  let mixedUp = 0;
  results.forEach((r, i) => {
    if (i % 3 === 0) mixedUp += r.status === 'fulfilled' ? 0 : 1;
    else if (r.status !== 'rejected') mixedUp++;
    else {
      const e = r.reason as LibvirtError;
      const expectNoDomain = i % 3 === 1;
      if ((e.virCode === 42) !== expectNoDomain) mixedUp++;
      if (!expectNoDomain && e.operation !== 'virDomainDefineXML') mixedUp++;
    }
  });
  t.equal(mixedUp, 0, 'every call got its own outcome and its own libvirt error');
});

t.test('opening an unreachable URI fails with libvirt message and can be retried', async (t) => {
  const c = new LibvirtConnection({ uri: 'qemu+unix:///system?socket=/nonexistent.sock', workers: 1 });
  const err = await c.open().catch((e) => e);
  t.ok(err instanceof LibvirtError);
  t.match(err.message, /nonexistent\.sock/);
  t.equal(c.connected, false);
  await c.close();
});

t.test('undefine falls back to fewer flags on a driver that lacks some (the test driver has no NVRAM)', async (t) => {
  const c = new LibvirtConnection({ uri: 'test:///default', workers: 1 });
  await c.open();
  t.teardown(() => c.close());
  const d = await c.defineDomain(xml('undefine-flags'));
  await c.undefineDomain(d.uuid); // UNDEFINE_ALL by default
  const err = await c.getDomain(d.uuid).catch((e) => e);
  t.equal(err.virCode, 42, 'the domain is gone');
});

t.test('call workers start on demand up to the pool size and stop again when idle', async (t) => {
  const c = new LibvirtConnection({ uri: 'test:///default', workers: 3, workerIdleMs: 300, workerSpawnDelayMs: 0 });
  await c.open();
  t.teardown(() => c.close());
  t.equal(c.callWorkers, 1, 'one worker at rest');
  const many = await Promise.all(Array.from({ length: 30 }, () => c.listDomains()));
  t.equal(many.length, 30, 'concurrent calls all answered');
  t.ok(c.callWorkers > 1 && c.callWorkers <= 3, `more workers under concurrent calls (${c.callWorkers}), at most 3`);
  const until = Date.now() + 10_000;
  while (c.callWorkers > 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  t.equal(c.callWorkers, 1, 'back to one worker once idle');
  t.ok((await c.listDomains()).length >= 0, 'calls still work after the extra workers stopped');
});

t.test('a burst of quick calls stays on one worker until a call has waited the spawn delay', async (t) => {
  const c = new LibvirtConnection({ uri: 'test:///default', workers: 4, workerSpawnDelayMs: 600_000 });
  await c.open();
  t.teardown(() => c.close());
  const many = await Promise.all(Array.from({ length: 30 }, () => c.listDomains()));
  t.equal(many.length, 30, 'concurrent calls all answered, one at a time');
  t.equal(c.callWorkers, 1, 'no extra worker started');
});

t.test('calls beyond libvirtd per-client share go over extra connections, closed again when idle', async (t) => {
  const c = new LibvirtConnection({ uri: 'test:///default', workers: 12, workerIdleMs: 300, workerSpawnDelayMs: 0 });
  await c.open();
  t.teardown(() => c.close());
  t.equal(c.connections, 1, 'one connection at rest');
  // the first CALLS_PER_CONNECTION calls fill the primary synchronously; the next ones need more
  const defined = await Promise.all(Array.from({ length: 12 }, (_, i) => c.defineDomain(xml(`unit-extra-${i}`))));
  const open = c.connections;
  t.ok(open > 1 && open <= 3, `extra connections under concurrent calls (${open}), at most one per 4 workers`);
  // test:///default shares its state between connections: what one defined, the others see
  const names = new Set((await c.listDomains()).map((d) => d.name));
  t.ok(
    defined.every((d) => names.has(d.name)),
    'domains defined over extra connections are seen by the primary',
  );
  for (const d of defined) await c.undefineDomain(d.uuid, 0);
  const until = Date.now() + 10_000;
  while (c.connections > 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  t.equal(c.connections, 1, 'extra connections closed once idle');
  t.ok(Array.isArray(await c.listDomains()), 'calls still work after they closed');
});
