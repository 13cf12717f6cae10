// drivers/qemu-img.ts against the real qemu-img: info, overlays (O(1), grown), convert, check.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { check, convert, create, createOverlay, info } from '../../drivers/qemu-img.ts';

const dir = mkdtempSync(join(tmpdir(), 'stratus-qemu-img-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('an overlay names its base and format, can be grown, and takes no space whatever the base size', async (t) => {
  const base = join(dir, 'base.raw');
  await create(base, 'raw', 10 * 1024 ** 3);
  const ov = join(dir, 'ov.qcow2');
  await createOverlay(ov, base, 'raw', 20 * 1024 ** 3);
  const i = await info(ov);
  t.equal(i.format, 'qcow2');
  t.equal(i.backingFile, base);
  t.equal(i.backingFormat, 'raw');
  t.equal(i.virtualSize, 20 * 1024 ** 3, 'grown to the requested size');
  t.ok(statSync(ov).size < 1024 * 1024, 'only headers were written');
  const same = join(dir, 'ov2.qcow2');
  await createOverlay(same, base, 'raw');
  t.equal((await info(same)).virtualSize, 10 * 1024 ** 3, 'the base size by default');
});

t.test('convert flattens an overlay; check reports a clean image; errors carry qemu-img stderr', async (t) => {
  const base = join(dir, 'b.qcow2');
  await create(base, 'qcow2', 1024 * 1024);
  const ov = join(dir, 'o.qcow2');
  await createOverlay(ov, base, 'qcow2');
  const flat = join(dir, 'flat.qcow2');
  await convert(ov, 'qcow2', flat, 'qcow2');
  const i = await info(flat);
  t.equal(i.backingFile, undefined, 'standalone');
  t.same(await check(flat), { corruptions: 0, leaks: 0, checkErrors: 0 });
  const junk = join(dir, 'junk.qcow2');
  writeFileSync(junk, 'not an image');
  const err = await info(junk, { format: 'qcow2' }).catch((e) => e);
  t.equal(err.code, 'STRATUS_ERR_QEMU_IMG');
  t.match(err.message, /qemu-img info failed for .*junk\.qcow2/);
});
