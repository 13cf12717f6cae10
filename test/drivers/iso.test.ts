// drivers/iso.ts with both tools: the ISO reads back (isoinfo, and xorriso's own listing) with the label
// and the files' exact bytes; a bad label or file name fails before anything is written.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { buildIso, readIso, readIsoFile, sweepIsoLeftovers } from '../../drivers/iso.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'stratus-iso-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

for (const tool of ['genisoimage', 'xorriso'] as const) {
  t.test(`${tool}: label, files and bytes read back`, async (t) => {
    const out = join(dir, `${tool}.iso`);
    const files = { 'context.sh': "A='x'\n", 'user-data': Buffer.from([0, 1, 2, 255]), 'long-name.with.dots': 'é\n' };
    const r = await buildIso({ label: 'CONTEXT', files, out, tool, mode: 0o600 });
    t.match(r, { size: Number, sha256: /^[0-9a-f]{64}$/ });
    t.same(await readIso(out), { label: 'CONTEXT', files: ['context.sh', 'long-name.with.dots', 'user-data'] });
    for (const [name, content] of Object.entries(files)) {
      t.same(await readIsoFile(out, name), Buffer.from(content), `${name} intact`);
    }
    const ls = await run('xorriso', ['-indev', out, '-pvd_info', '-ls', '/'], { encoding: 'utf8' });
    t.match(`${ls.stdout}${ls.stderr}`, /Volume Id\s*:\s*CONTEXT/);
    t.match(ls.stdout, /'context\.sh'/);
  });
}

t.test('bad labels and file names are refused before anything is written', async (t) => {
  const out = join(dir, 'bad.iso');
  await t.rejects(buildIso({ label: 'bad label', files: {}, out }), { code: 'STRATUS_ERR_ISO' });
  await t.rejects(buildIso({ label: 'OK', files: { '../x': 'y' }, out }), { code: 'STRATUS_ERR_ISO' });
  t.notOk(existsSync(out));
});

t.test('a build stages beside its output and leaves nothing; what a killed build left is swept', async (t) => {
  const out = join(dir, 'staged', 'ctx.iso');
  mkdirSync(join(dir, 'staged'));
  await buildIso({ label: 'CONTEXT', files: { 'context.sh': 'X=1\n' }, out });
  t.same(readdirSync(join(dir, 'staged')), ['ctx.iso'], 'no staging directory or partial ISO left');
  // what a SIGKILL between mkdtemp and rename leaves
  mkdirSync(join(dir, 'staged', '.stratus-iso-stage-abc', 'root'), { recursive: true });
  writeFileSync(join(dir, 'staged', '.stratus-iso-123-4-x.iso'), 'partial');
  writeFileSync(join(dir, 'staged', '.keep-me'), 'not ours');
  t.equal(await sweepIsoLeftovers(join(dir, 'staged')), 2);
  t.same(readdirSync(join(dir, 'staged')).sort(), ['.keep-me', 'ctx.iso']);
  t.equal(await sweepIsoLeftovers(join(dir, 'nonexistent')), 0, 'a directory not made yet has nothing to sweep');
});
