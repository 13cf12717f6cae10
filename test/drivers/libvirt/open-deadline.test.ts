// tier: unit
// Opening a libvirt connection has a deadline: a libvirtd that accepts the connection and never answers
// (stopped with SIGSTOP, wedged) makes open() fail with a transient STRATUS_ERR_LIBVIRT_TIMEOUT instead of
// holding the caller (the agent's start) forever; the connection may be opened again later.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LibvirtConnection } from '../../../drivers/libvirt/index.ts';

t.test('a libvirtd that accepts and never answers: open() fails after its deadline, 503', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-mute-libvirtd-'));
  const sock = join(dir, 'libvirt-sock');
  const clients: Socket[] = [];
  const server = createServer((s) => clients.push(s)); // accepts, reads, says nothing
  await new Promise<void>((r) => server.listen(sock, r));
  const c = new LibvirtConnection({ uri: `qemu:///system?socket=${sock}`, workers: 2, openTimeoutMs: 3000 });
  t.teardown(async () => {
    // the worker still in virConnectOpen returns once the socket closes
    for (const s of clients) s.destroy();
    server.close();
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // without the deadline this would wait for as long as the socket stays open (the test's own timeout)
  await t.rejects(c.open(), { code: 'STRATUS_ERR_LIBVIRT_TIMEOUT', status: 503 });
  t.equal(c.connected, false);
  t.ok(clients.length >= 1, 'the client did reach the socket');
});
