// Real libvirtd, a real HTTP server: a VM whose kernel and initrd are images (as Nova's kernel_id and
// ramdisk_id) boots from the agent's verified cache, and deleting it releases them.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { startAgent } from '../../helpers/agent-process.ts';
import { BOOT_LINE, testGuest } from '../../helpers/guest.ts';
import { serveFiles, sha256File } from '../../helpers/file-server.ts';
import { waitFor } from '../../helpers/wait.ts';

t.test('a guest boots from kernel and initrd images fetched and verified by the agent', async (t) => {
  const g = testGuest();
  const files = await serveFiles({ vmlinuz: g.kernel, 'initrd.img': g.initrd });
  t.teardown(() => files.close());
  const agent = await startAgent({ resyncS: 300 });
  t.teardown(() => agent.cleanup());
  await agent.waitReady();
  const kernel = { image: { sha256: sha256File(g.kernel), url: files.url('vmlinuz'), format: 'raw' } };
  const initrd = { image: { sha256: sha256File(g.initrd), url: files.url('initrd.img'), format: 'raw' } };
  const spec = {
    id: randomUUID(),
    name: 'boot-from-images',
    vcpus: 1,
    memoryMiB: 192,
    boot: { kernel, initrd, cmdline: g.cmdline },
  };
  const r = await agent.request('POST', '/v1/vms', { spec });
  t.equal(r.status, 201, r.status === 201 ? 'created' : JSON.stringify(r.body).slice(0, 300));
  const text = await waitFor(
    'the boot line',
    async () => {
      const c = await agent.request('GET', `/v1/vms/${spec.id}/console`);
      return typeof c.body === 'string' && c.body.includes(BOOT_LINE) ? c.body : undefined;
    },
    90_000,
    250,
  );
  t.match(text, BOOT_LINE, 'booted from the cached kernel and initrd');
  t.equal(files.requests.get('vmlinuz'), 1, 'kernel downloaded once');

  // a second VM from the same images: served from the cache, no new download
  const again = { ...spec, id: randomUUID(), name: 'boot-from-cache' };
  t.equal((await agent.request('POST', '/v1/vms', { spec: again, start: false })).status, 201);
  t.equal(files.requests.get('vmlinuz'), 1, 'no second download');

  // a wrong checksum is refused before anything is defined
  const bad = {
    ...spec,
    id: randomUUID(),
    name: 'bad-kernel',
    boot: { ...spec.boot, kernel: { image: { ...kernel.image, sha256: 'f'.repeat(64) } } },
  };
  const refused = await agent.request('POST', '/v1/vms', { spec: bad });
  t.ok(refused.status >= 400 && refused.status < 500, `refused (${refused.status}): ${refused.body.title}`);
  t.equal((await agent.request('GET', `/v1/vms/${bad.id}`)).status, 404);

  for (const id of [spec.id, again.id]) t.equal((await agent.request('DELETE', `/v1/vms/${id}`)).status, 204);
});
