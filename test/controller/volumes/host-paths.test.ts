// The controller hands agents only host paths under [controller] allowed_roots: a file-volume directory
// outside the roots, or a symlink inside them pointing outside, makes volume creation fail with 403
// naming the path and the roots, and no volume record or file is left.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startController } from '../../helpers/controller-process.ts';

const root = mkdtempSync(join(tmpdir(), 'stratus-croots-'));
const allowed = join(root, 'allowed');
const outside = join(root, 'outside');
mkdirSync(allowed);
mkdirSync(outside);
symlinkSync(outside, join(allowed, 'link'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

for (const [what, fileDir, resolved] of [
  ['a directory outside the roots', outside, outside],
  ['a symlink in a root pointing outside', join(allowed, 'link'), outside],
] as const) {
  t.test(`file volumes in ${what} are refused by the controller`, async (t) => {
    const c = await startController({
      allowedRoots: [allowed],
      extraToml: `[volumes]\ndefault_backend = "file"\nfile_dir = "${fileDir}"\n`,
    });
    t.teardown(() => c.cleanup());
    const r = await c.request('POST', '/v1/volumes', { name: 'data', sizeGiB: 1 });
    t.equal(r.status, 403, JSON.stringify(r.body));
    t.equal(r.body.code, 'STRATUS_ERR_HOST_PATH_NOT_ALLOWED');
    t.match(r.body.title, `file volume path ${fileDir}/volume-`);
    t.match(r.body.title, `host paths must be under ${allowed}`);
    t.match(r.body.details.resolved, `${resolved}/volume-`);
    const list = await c.request('GET', '/v1/volumes');
    t.same(list.body.items, [], 'no volume record');
    t.same(existsSync(outside) ? readdirSync(outside) : [], [], 'no file');
  });
}

t.test('file volumes under the roots are created', async (t) => {
  const dir = join(allowed, 'shared');
  const c = await startController({
    allowedRoots: [allowed],
    extraToml: `[volumes]\ndefault_backend = "file"\nfile_dir = "${dir}"\n`,
  });
  t.teardown(() => c.cleanup());
  const r = await c.request('POST', '/v1/volumes', { name: 'data', sizeGiB: 1 });
  t.equal(r.status, 201, JSON.stringify(r.body));
  t.equal(readdirSync(dir).length, 1);
});
