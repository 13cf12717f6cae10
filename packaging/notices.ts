// License texts of what a package carries besides Stratus itself: the npm packages inlined into a
// bundle, or (runtime package) Node.js and the native modules. MIT, ISC and BSD licenses require their
// notices to travel with the code; each package ships them as THIRD-PARTY-NOTICES beside its copyright.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface NoticeSource {
  name: string;
  version: string;
  license: string;
  dir: string;
}

const LICENSE_FILE = /^(licen[cs]e|copying|notice)(\.(md|txt|markdown))?$/i;

/** The license file(s) at the top of a package directory. */
function licenseFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => LICENSE_FILE.test(f))
    .sort()
    .map((f) => join(dir, f));
}

export function renderNotices(title: string, sources: NoticeSource[]): string {
  const seen = new Set<string>();
  const parts = [`${title}\n${'='.repeat(title.length)}\n`];
  for (const s of sources) {
    const key = `${s.name}@${s.version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const files = licenseFiles(s.dir);
    const texts = files.map((f) => readFileSync(f, 'utf8').trimEnd());
    parts.push(
      [
        `${key} (${s.license})`,
        '-'.repeat(key.length + s.license.length + 3),
        texts.length > 0
          ? texts.join('\n\n')
          : `No license file is included in ${s.name}; its license is ${s.license}.`,
        '',
      ].join('\n'),
    );
  }
  return `${parts.join('\n')}\n`;
}

/** The license file of the Node.js binary that runs the build (official tarball or distro layout). */
export function nodeLicenseFile(execPath: string): string | undefined {
  const prefix = dirname(dirname(execPath));
  const candidates = [
    join(prefix, 'share/doc/node/LICENSE'),
    join(prefix, 'share/doc/nodejs/LICENSE'),
    join(prefix, 'LICENSE'),
    '/usr/share/doc/nodejs/LICENSE',
  ];
  return candidates.find((c) => existsSync(c));
}

/** Sorted license names of a set of sources, for RPM License: and the Debian copyright comment. */
export function licenseNames(sources: NoticeSource[]): string[] {
  return [...new Set(sources.map((s) => s.license))].sort();
}
