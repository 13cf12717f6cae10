// agent/images/disk-templates.ts against the real qemu-img: a copied blank disk or overlay is what
// `qemu-img create` writes (format, size, backing file and format; `qemu-img check` clean), copies are
// independent files, one template serves every copy of its kind, the least recently used go beyond the
// limit, a template removed by hand is made again, a failed creation leaves nothing and is retried, and
// the directory starts empty.
import { readdirSync, readFileSync, rmSync, mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DiskTemplates } from '../../../agent/images/disk-templates.ts';
import { check, create, info } from '../../../drivers/qemu-img.ts';
import { waitFor } from '../../helpers/wait.ts';

const MiB = 1024 ** 2;
const root = mkdtempSync(join(tmpdir(), 'stratus-disk-templates-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (max?: number) => {
  const dir = join(root, `case-${++n}`);
  return { dir, tpl: new DiskTemplates({ dir: join(dir, 'templates'), ...(max ? { max } : {}) }) };
};

t.test(
  'a blank disk is an empty qcow2 of the size asked, as qemu-img makes it, and copies are independent',
  async (t) => {
    const { dir, tpl } = fresh();
    const a = join(root, `blank-a-${n}.qcow2`);
    const b = join(root, `blank-b-${n}.qcow2`);
    await tpl.blank(a, 64 * MiB);
    await tpl.blank(b, 64 * MiB);
    for (const p of [a, b]) {
      const i = await info(p);
      t.equal(i.format, 'qcow2');
      t.equal(i.virtualSize, 64 * MiB, '64 MiB');
      t.equal(i.backingFile, undefined, 'no backing file');
      await t.resolves(check(p), 'qemu-img check finds nothing wrong');
    }
    const ref = join(root, `blank-ref-${n}.qcow2`);
    await create(ref, 'qcow2', 64 * MiB);
    t.same(readFileSync(a), readFileSync(ref), 'the same bytes as qemu-img create writes');
    t.equal((await tpl.list()).length, 1, 'one template for both');
    writeFileSync(a, 'scribbled');
    t.same(readFileSync(b), readFileSync(ref), 'writing one copy leaves the other alone');
    t.ok(existsSync(join(dir, 'templates')));
  },
);

t.test('an overlay names its base and format and takes the size asked for', async (t) => {
  const { tpl } = fresh();
  const base = join(root, `base-${n}.raw`);
  await create(base, 'raw', 32 * MiB);
  const ov = join(root, `ov-${n}.qcow2`);
  await tpl.overlay(ov, base, 'raw');
  let i = await info(ov);
  t.equal(i.backingFile, base);
  t.equal(i.backingFormat, 'raw');
  t.equal(i.virtualSize, 32 * MiB, "the base's size");
  const grown = join(root, `ov-grown-${n}.qcow2`);
  await tpl.overlay(grown, base, 'raw', 128 * MiB);
  i = await info(grown);
  t.equal(i.virtualSize, 128 * MiB, 'grown');
  t.equal(i.backingFile, base);
  t.equal((await tpl.list()).length, 2, 'one template per base and size');
});

t.test('beyond the limit the least recently used template goes', async (t) => {
  const { tpl } = fresh(2);
  const out = (s: number) => join(root, `lru-${n}-${s}.qcow2`);
  await tpl.blank(out(1), 1 * MiB);
  await tpl.blank(out(2), 2 * MiB);
  await tpl.blank(out(1), 1 * MiB); // 1 MiB used again: 2 MiB is now the oldest
  await tpl.blank(out(3), 3 * MiB);
  // the removal of the evicted file is not awaited
  await waitFor('two templates left', async () => ((await tpl.list()).length === 2 ? true : undefined), 10_000);
  t.pass('two kept');
  for (const s of [1, 2, 3]) t.equal((await info(out(s))).virtualSize, s * MiB, `${s} MiB copy is right`);
});

t.test('a template removed by hand is made again; a failed creation leaves nothing and is retried', async (t) => {
  const { dir, tpl } = fresh();
  const a = join(root, `again-${n}.qcow2`);
  await tpl.blank(a, 8 * MiB);
  for (const f of readdirSync(join(dir, 'templates'))) rmSync(join(dir, 'templates', f));
  await tpl.blank(a, 8 * MiB);
  t.equal((await info(a)).virtualSize, 8 * MiB, 'copied from a template made again');

  const base = join(root, `later-base-${n}.raw`);
  const ov = join(root, `later-ov-${n}.qcow2`);
  await t.rejects(tpl.overlay(ov, base, 'raw'), { code: 'STRATUS_ERR_QEMU_IMG' }, 'no base: qemu-img refuses');
  t.same(
    readdirSync(join(dir, 'templates')).filter((f) => f.startsWith('.')),
    [],
    'no temporary file left',
  );
  await create(base, 'raw', 4 * MiB);
  await tpl.overlay(ov, base, 'raw');
  t.equal((await info(ov)).backingFile, base, 'the failure was not remembered');
});

t.test('the directory starts empty: templates of an earlier run (an older qemu-img) are not used', async (t) => {
  const { dir, tpl } = fresh();
  const tdir = join(dir, 'templates');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(tdir, { recursive: true });
  writeFileSync(join(tdir, 'stale.qcow2'), 'from an earlier run');
  await tpl.blank(join(root, `start-${n}.qcow2`), MiB);
  t.notOk(existsSync(join(tdir, 'stale.qcow2')), 'removed');
});
