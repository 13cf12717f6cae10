// The agent's side of context CD-ROMs (agent/network/vm-network.ts prepareSpec): the ISO named by a VM
// spec is downloaded over HTTP, checked against its SHA-256 and attached as the last CD-ROM; a retried
// deploy downloads nothing; a wrong checksum or an HTTP error fails clearly and leaves no file.

import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { VmNetwork } from '../../../agent/network/vm-network.ts';
import { createLogger } from '../../../common/logger.ts';
import { buildIso } from '../../../drivers/iso.ts';
import type { VmSpec } from '../../../protocol/vm-spec.ts';
import { serveFiles, sha256File } from '../../helpers/file-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'stratus-ctxfetch-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const iso = join(dir, 'served.iso');
const net = new VmNetwork({
  log: createLogger('test', 'silent'),
  table: 'stratus_unused',
  contextDir: join(dir, 'ctx'),
});

const spec = (context?: VmSpec['context']): VmSpec =>
  ({ id: randomUUID(), name: 'ctx', vcpus: 1, memoryMiB: 64, disks: [], cdroms: [], nics: [], context }) as VmSpec;

t.test('downloaded, checked, attached as the last CD-ROM; a retry downloads nothing', async (t) => {
  await buildIso({ label: 'CONTEXT', files: { 'context.sh': "HOSTNAME='x'\n" }, out: iso });
  const srv = await serveFiles({ 'context.iso': iso });
  t.teardown(() => srv.close());
  const s = spec({ url: srv.url('context.iso'), sha256: sha256File(iso) });
  const out = await net.prepareSpec(s);
  const path = net.contextPath(s.id);
  t.same(out.cdroms, [{ path }]);
  t.equal(sha256File(path), sha256File(iso));
  const again = await net.prepareSpec(s);
  t.same(again.cdroms, [{ path }]);
  t.equal(srv.requests.get('context.iso'), 1, 'the retry found the file already there');
  await net.releaseVm(out);
  t.notOk(existsSync(path), 'removed with the VM');
});

t.test('a wrong checksum or an HTTP error is a clear error and leaves no file', async (t) => {
  const srv = await serveFiles({ 'context.iso': iso });
  t.teardown(() => srv.close());
  const bad = spec({ url: srv.url('context.iso'), sha256: '0'.repeat(64) });
  await t.rejects(net.prepareSpec(bad), {
    code: 'STRATUS_ERR_CONTEXT_FETCH',
    message: /SHA-256 [0-9a-f]{64} is not the expected 0{64}/,
  });
  t.notOk(existsSync(net.contextPath(bad.id)));
  const missing = spec({ url: `${srv.url('nope.iso')}?token=secret`, sha256: sha256File(iso) });
  const err = await net.prepareSpec(missing).catch((e: Error) => e);
  t.match(err, { code: 'STRATUS_ERR_CONTEXT_FETCH', message: /HTTP 404/ });
  t.notMatch((err as Error).message, /secret/, 'the token is not in the error');
  t.notOk(existsSync(net.contextPath(missing.id)));
});
