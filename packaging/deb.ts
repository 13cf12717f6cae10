// Builds .deb packages with dpkg-deb from the staged trees: units moved to /lib/systemd/system (Debian 12
// keeps them there), DEBIAN/control with dependencies in Debian's names, conffiles, md5sums, maintainer
// scripts from packaging/debian/*.in for packages with a unit, and /usr/share/doc/<package> with a
// machine-readable copyright, the changelog and the third-party notices. The runtime's Depends are
// computed by dpkg-shlibdeps from its ELF files.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { packageName, type Dependency } from './families.ts';
import { RUNTIME, STATE_ROOT, SYSTEM_USER } from './packages.ts';
import { installedSizeKiB, listFiles, run, writeFile } from './run.ts';
import { type BuildContext, type StagedPackage, UNIT_DIR } from './stage.ts';

const DEBIAN_UNIT_DIR = '/lib/systemd/system';

export function debArch(): string {
  return run('dpkg', ['--print-architecture']).trim();
}

function wrapDescription(summary: string, text: string): string {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > 72) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return `${summary}\n${lines.map((l) => ` ${l}`).join('\n')}`;
}

function names(deps: Dependency[] | undefined): string[] {
  return (deps ?? []).map((d) => packageName(d, 'debian')).filter((n): n is string => n !== null);
}

/** Depends of the runtime from its ELF files, as dpkg-shlibdeps computes them. */
function shlibDepends(ctx: BuildContext, tree: string): string {
  const work = join(ctx.out, 'deb', '.shlibdeps');
  rmSync(work, { recursive: true, force: true });
  writeFile(join(work, 'debian/control'), `Source: stratus\n\nPackage: ${RUNTIME.name}\nArchitecture: any\n`);
  const elf = listFiles(tree)
    .filter((f) => f.endsWith('/node') || f.endsWith('.node'))
    .map((f) => `-e${join(tree, f)}`);
  const out = run('dpkg-shlibdeps', ['-O', ...elf], { cwd: work });
  const m = /shlibs:Depends=(.*)/.exec(out);
  return m ? m[1]!.trim() : '';
}

function copyright(ctx: BuildContext, s: StagedPackage): string {
  const runtime = s.arch === 'native';
  const year = new Date(ctx.epoch * 1000).getUTCFullYear();
  const paragraphs = [
    [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      'Upstream-Name: Stratus',
      'Upstream-Contact: Stratus maintainers',
    ],
    runtime
      ? [
          'Files: usr/lib/stratus/node usr/lib/stratus/node_modules/*',
          'Copyright: Node.js contributors, Joyent, Inc. and other Node contributors,',
          ' and the authors named in THIRD-PARTY-NOTICES.gz',
          'License: Expat',
          'Comment: Node.js is under the Expat (MIT) license. The libraries built into it and the native',
          ' modules carry their own licenses; /usr/share/doc/stratus-runtime/THIRD-PARTY-NOTICES.gz',
          ' reproduces all of them in full.',
        ]
      : [
          'Files: *',
          `Copyright: ${year} Stratus contributors`,
          'License: Apache-2.0',
          `Comment: The bundled JavaScript also contains npm packages under these licenses:`,
          ` ${s.thirdPartyLicenses.join(', ')}. Their notices are reproduced in full in`,
          ` /usr/share/doc/${s.name}/THIRD-PARTY-NOTICES.gz.`,
        ],
    ...(runtime
      ? [['Files: usr/lib/stratus/package.json', `Copyright: ${year} Stratus contributors`, 'License: Apache-2.0']]
      : []),
    [
      'License: Apache-2.0',
      ' On Debian systems, the full text of the Apache License, Version 2.0 can be found in',
      ' /usr/share/common-licenses/Apache-2.0.',
    ],
    ...(runtime
      ? [
          [
            'License: Expat',
            ' Permission is hereby granted, free of charge, to any person obtaining a copy of this',
            ' software and associated documentation files (the "Software"), to deal in the Software',
            ' without restriction, including without limitation the rights to use, copy, modify, merge,',
            ' publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons',
            ' to whom the Software is furnished to do so, subject to the following conditions:',
            ' .',
            ' The above copyright notice and this permission notice shall be included in all copies or',
            ' substantial portions of the Software.',
            ' .',
            ' THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,',
            ' INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR',
            ' PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE',
            ' FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR',
            ' OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER',
            ' DEALINGS IN THE SOFTWARE.',
          ],
        ]
      : []),
  ];
  return `${paragraphs.map((p) => p.join('\n')).join('\n\n')}\n`;
}

function changelog(ctx: BuildContext): string {
  const date = new Date(ctx.epoch * 1000).toUTCString().replace('GMT', '+0000');
  return [
    `stratus (${ctx.version}-${ctx.release}) unstable; urgency=medium`,
    '',
    `  * Stratus ${ctx.version}, packaged by npm run package (packaging/build.ts).`,
    '',
    ` -- ${ctx.maintainer}  ${date}`,
    '',
  ].join('\n');
}

function maintainerScript(ctx: BuildContext, s: StagedPackage, kind: string): string {
  const p = s.program!;
  const stateDirs = p.stateDirs ?? [];
  const parents = [...new Set(stateDirs.map((d) => dirname(d)))].filter((d) => d.startsWith('/var/'));
  const vars: Record<string, string> = {
    PACKAGE: p.name,
    UNIT: p.unit!,
    USER: SYSTEM_USER,
    STATE_ROOT,
    STATE_DIRS: stateDirs.join(' '),
    STATE_PARENTS: parents.join(' '),
    GROUPS: (p.userGroups ?? []).join(' '),
  };
  const template = readFileSync(join(ctx.repo, 'packaging/debian', `${kind}.in`), 'utf8');
  return template.replace(/@([A-Z_]+)@/g, (_, k: string) => {
    if (!(k in vars)) throw new Error(`packaging/debian/${kind}.in: unknown placeholder @${k}@`);
    return vars[k]!;
  });
}

/** Builds one .deb; returns its path. */
export function buildDeb(ctx: BuildContext, s: StagedPackage, outDir: string): string {
  const version = `${ctx.version}-${ctx.release}`;
  const arch = s.arch === 'native' ? debArch() : 'all';
  const root = join(ctx.out, 'deb', s.name);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  run('cp', ['-a', `${s.tree}/.`, root]);
  const units = join(root, UNIT_DIR);
  if (s.program?.unit) {
    mkdirSync(join(root, DEBIAN_UNIT_DIR), { recursive: true });
    renameSync(join(units, s.program.unit), join(root, DEBIAN_UNIT_DIR, s.program.unit));
    rmSync(join(root, 'usr/lib/systemd'), { recursive: true });
  }
  const doc = join(root, 'usr/share/doc', s.name);
  writeFile(join(doc, 'copyright'), copyright(ctx, s));
  const overrides = join(ctx.repo, 'packaging/debian', `${s.name}.lintian-overrides`);
  if (existsSync(overrides)) writeFile(join(root, 'usr/share/lintian/overrides', s.name), readFileSync(overrides));
  writeFile(join(doc, 'changelog.Debian.gz'), gzipSync(changelog(ctx), { level: 9 }));
  writeFile(join(doc, 'THIRD-PARTY-NOTICES.gz'), gzipSync(s.notices, { level: 9 }));

  const p = s.program;
  const depends = [
    ...(s.arch === 'native' ? [shlibDepends(ctx, s.tree)] : [`${RUNTIME.name} (= ${version})`]),
    ...(p?.unit ? names(['user-tools']) : []),
    ...names(p?.requires),
  ].filter(Boolean);
  const control = [
    `Package: ${s.name}`,
    'Source: stratus',
    `Version: ${version}`,
    `Architecture: ${arch}`,
    `Maintainer: ${ctx.maintainer}`,
    `Installed-Size: ${installedSizeKiB(root)}`,
    `Depends: ${depends.join(', ')}`,
    ...(names(p?.recommends).length > 0 ? [`Recommends: ${names(p?.recommends).join(', ')}`] : []),
    ...(names(p?.suggests).length > 0 ? [`Suggests: ${names(p?.suggests).join(', ')}`] : []),
    `Section: ${s.arch === 'native' ? 'libs' : 'admin'}`,
    'Priority: optional',
    `Description: ${wrapDescription(s.summary, s.description)}`,
    '',
  ];
  const files = listFiles(root);
  writeFile(join(root, 'DEBIAN/control'), control.join('\n'));
  const md5 = files.map(
    (f) =>
      `${createHash('md5')
        .update(readFileSync(join(root, f)))
        .digest('hex')}  ${f}\n`,
  );
  writeFile(join(root, 'DEBIAN/md5sums'), md5.join(''));
  const conffiles = files.filter((f) => f.startsWith('etc/')).map((f) => `/${f}\n`);
  if (conffiles.length > 0) writeFile(join(root, 'DEBIAN/conffiles'), conffiles.join(''));
  if (p?.unit) {
    for (const kind of ['postinst', 'prerm', 'postrm']) {
      writeFile(join(root, 'DEBIAN', kind), maintainerScript(ctx, s, kind), 0o755);
    }
  }
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${s.name}_${version}_${arch}.deb`);
  const compression = ctx.fast ? ['-Zgzip', '-z6'] : ['-Zxz', '-z6'];
  run('dpkg-deb', ['--root-owner-group', ...compression, '--build', root, file], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(ctx.epoch) },
  });
  return file;
}
