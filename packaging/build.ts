// `npm run package`: installs the packaging tools when missing (packaging/setup.sh), then builds the Stratus packages, .deb for Debian/Ubuntu and .rpm for EL9, Fedora and
// openSUSE, into build/packaging/out/<family>/. Stages every package once (stage.ts), checks that the
// staged programs run, then hands the same trees to dpkg-deb and rpmbuild. Programs whose entry point
// does not exist yet are skipped with a message. Options:
//   --formats deb,rpm      which formats (default both)
//   --families debian,el9  which families: debian, el9, fedora, suse (default all)
//   --release N            package release (default 1)
//   --fast                 cheap compression, for tests and development builds
//   --out DIR              output root (default build/packaging)
//   --sign KEY             sign the RPMs with this GnuPG key (default $STRATUS_RPM_SIGN_KEY)

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildDeb } from './deb.ts';
import { FAMILIES, type Family } from './families.ts';
import { nodeLicenseFile } from './notices.ts';
import { buildRpms } from './rpm.ts';
import { haveTool } from './run.ts';
import {
  type BuildContext,
  checkAndDocument,
  mergeStaged,
  programsPresent,
  type StagedPackage,
  stageProgram,
  stageRuntime,
} from './stage.ts';

export interface BuildOptions {
  formats?: ('deb' | 'rpm')[];
  families?: Family[];
  release?: string;
  fast?: boolean;
  out?: string;
  /** GnuPG key that signs the RPMs (default $STRATUS_RPM_SIGN_KEY; unsigned when neither is set). */
  sign?: string;
  log?: (line: string) => void;
}

export interface BuildResult {
  version: string;
  release: string;
  /** Package files per family. */
  files: Partial<Record<Family, string[]>>;
  built: string[];
  skipped: string[];
  outDir: string;
}

const REPO = resolve(new URL('..', import.meta.url).pathname);
const DEFAULT_MAINTAINER = 'Stratus maintainers <stratus-maintainers@example.org>';

function sourceDateEpoch(): number {
  const env = Number(process.env['SOURCE_DATE_EPOCH']);
  if (Number.isInteger(env) && env > 0) return env;
  try {
    return Number(execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: REPO, encoding: 'utf8' }).trim());
  } catch {
    return Math.floor(Date.now() / 1000);
  }
}

export async function buildPackages(opts: BuildOptions = {}): Promise<BuildResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`package: ${l}\n`));
  const formats = opts.formats ?? ['deb', 'rpm'];
  const families = (opts.families ?? (Object.keys(FAMILIES) as Family[])).filter((f) =>
    formats.includes(FAMILIES[f].format),
  );
  const needed = ['strip', ...(formats.includes('deb') ? ['dpkg-deb', 'dpkg-shlibdeps'] : [])];
  if (formats.includes('rpm')) needed.push('rpmbuild', ...(opts.sign ? ['rpmsign'] : []));
  const missing = needed.filter((t) => !haveTool(t));
  if (missing.length > 0) {
    throw new Error(
      `missing tools: ${missing.join(', ')}; run \`bash packaging/setup.sh\` (as root) to install them, or use \`npm run package\`, which does`,
    );
  }
  const pkgJson = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  const out = resolve(opts.out ?? join(REPO, 'build/packaging'));
  const ctx: BuildContext = {
    repo: REPO,
    out,
    version: pkgJson.version,
    release: opts.release ?? '1',
    epoch: sourceDateEpoch(),
    maintainer: process.env['STRATUS_PACKAGER'] ?? DEFAULT_MAINTAINER,
    fast: opts.fast ?? false,
    signKey: opts.sign ?? process.env['STRATUS_RPM_SIGN_KEY'],
  };
  const { present, skipped } = programsPresent(REPO);
  for (const s of skipped) log(`skipping ${s}`);

  log(`staging ${['stratus-runtime', ...present.map((p) => p.name)].join(', ')} ${ctx.version}-${ctx.release}`);
  const staged: StagedPackage[] = [stageRuntime(ctx)];
  for (const p of present) staged.push(await stageProgram(ctx, p));
  const merged = mergeStaged(ctx, staged);
  checkAndDocument(ctx, staged, merged);
  rmSync(merged, { recursive: true, force: true });

  const files: Partial<Record<Family, string[]>> = {};
  for (const family of families) {
    const dir = join(out, 'out', family);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    if (FAMILIES[family].format === 'deb') {
      files[family] = staged.map((s) => buildDeb(ctx, s, dir));
    } else {
      files[family] = buildRpms(ctx, staged, family, dir, nodeLicenseFile(process.execPath)!);
    }
    for (const f of files[family]!) log(`built ${f}`);
  }
  return {
    version: ctx.version,
    release: ctx.release,
    files,
    built: staged.map((s) => s.name),
    skipped,
    outDir: out,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      formats: { type: 'string' },
      families: { type: 'string' },
      release: { type: 'string' },
      fast: { type: 'boolean' },
      out: { type: 'string' },
      sign: { type: 'string' },
    },
    strict: true,
  });
  const list = (v: string | undefined) => v?.split(',').map((s) => s.trim());
  const families = list(values.families) as Family[] | undefined;
  for (const f of families ?? []) if (!(f in FAMILIES)) throw new Error(`unknown family ${f}`);
  await buildPackages({
    formats: list(values.formats) as ('deb' | 'rpm')[] | undefined,
    families,
    release: values.release,
    fast: values.fast,
    out: values.out,
    sign: values.sign,
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    process.stderr.write(`package: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
