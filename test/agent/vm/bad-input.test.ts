// Bad input gets a clear 4xx and leaves nothing in libvirt; a libvirt failure shows libvirt's message.
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startAgent } from '../../helpers/agent-process.ts';
import { guestSpec } from '../../helpers/guest.ts';
import { virsh } from '../../helpers/libvirtd.ts';

const defined = (id: string) => virsh('list', '--all', '--name').includes(`stratus-${id}`);

t.test('bad specs are refused with a readable problem and nothing is defined', async (t) => {
  const agent = await startAgent();
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const cases: [string, ReturnType<typeof guestSpec> | Record<string, unknown>, number, RegExp][] = [
    ['negative memory', { ...guestSpec(), memoryMiB: -512 }, 400, /memoryMiB: must be an integer from 16/],
    ['a name with XML metacharacters', { ...guestSpec(), name: "vm'><devices/>" }, 400, /name: must be 1-63 letters/],
    [
      'an unknown bridge',
      guestSpec({ nics: [{ bridge: 'br-nowhere', mac: '52:54:00:12:34:56' }] }),
      422,
      /bridge br-nowhere does not exist on host test-host/,
    ],
    [
      'a missing kernel file',
      { ...guestSpec(), boot: { kernel: join(tmpdir(), 'nonexistent', 'vmlinuz') } },
      422,
      /kernel file \S*\/nonexistent\/vmlinuz does not exist/,
    ],
    ['an unknown field', { ...guestSpec(), gpu: true }, 400, /Unexpected property|gpu/],
  ];
  for (const [what, spec, status, message] of cases) {
    const r = await agent.request('POST', '/v1/vms', { spec });
    t.equal(r.status, status, `${what}: ${status}`);
    t.equal(r.headers.get('content-type')?.split(';')[0], 'application/problem+json');
    t.match(r.body.title, message, `${what}: readable title`);
    t.notOk(defined((spec as { id: string }).id), `${what}: nothing defined in libvirt`);
  }
  const malformed = await agent.request('POST', '/v1/vms', '{"spec": ');
  t.equal(malformed.status, 400);
  t.match(malformed.body.title, /not valid JSON/);
  t.equal((await agent.request('GET', '/v1/vms/not-a-uuid')).status, 400);
  t.equal((await agent.request('GET', `/v1/vms/${randomUUID()}`)).status, 404);
  t.equal((await agent.request('POST', `/v1/vms/${randomUUID()}/explode`, {})).status, 400);
  t.same((await agent.request('GET', '/v1/vms')).body.items, [], 'no VM recorded');
});

t.test('a libvirt failure surfaces libvirt message and the failed create leaves nothing behind', async (t) => {
  const agent = await startAgent();
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const spec = guestSpec({ machine: 'no-such-machine' });
  const r = await agent.request('POST', '/v1/vms', { spec });
  t.equal(r.status, 422, "a configuration libvirt rejects is the caller's problem: 422");
  t.equal(r.body.code, 'STRATUS_ERR_LIBVIRT');
  t.match(r.body.title, /^XML error: /, "libvirt's own message");
  t.equal(r.body.details.virCode, 27, "libvirt's own code");
  t.equal(r.body.details.operation, 'virDomainDefineXML');
  t.notOk(defined(spec.id), 'nothing defined');
  t.equal((await agent.request('GET', `/v1/vms/${spec.id}`)).status, 404, 'no record kept');

  // a failure after the domain was defined (start fails: the disk image is not a qcow2) is undone too
  const { writeFileSync } = await import('node:fs');
  const notQcow = `${agent.dir}/not-a-qcow2.img`;
  writeFileSync(notQcow, 'this is not a qcow2 image');
  const late = guestSpec({ disks: [{ path: notQcow, format: 'qcow2' }] });
  const r2 = await agent.request('POST', '/v1/vms', { spec: late });
  t.ok(r2.status >= 400, `start failure refused (${r2.status}): ${r2.body.title}`);
  t.equal(r2.body.details?.operation, 'virDomainCreate');
  t.notOk(defined(late.id), 'the defined domain was undefined again');
  t.equal((await agent.request('GET', `/v1/vms/${late.id}`)).status, 404);
});
