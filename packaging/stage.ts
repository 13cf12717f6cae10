// Stages each package as the file tree it installs (build/packaging/stage/<package>/...), shared by the
// DEB and RPM builders: the runtime (Node binary + native modules + the package.json that makes the
// bundles ES modules), and per program its bundle, /usr/bin launcher, configuration file rendered from
// its schema, systemd unit and man page. Then checks the staged result actually runs: the native modules
// load in the staged Node, and every program answers --version with the version being packaged.

import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { TObject } from '@sinclair/typebox';
import { renderConfigExample } from '../common/config.ts';
import { bundleProgram } from './bundle.ts';
import { renderManPage } from './man.ts';
import { licenseNames, type NoticeSource, nodeLicenseFile, renderNotices } from './notices.ts';
import { CONFIG_DIR, launcherNodeFlags, PREFIX, type ProgramPackage, PROGRAMS, RUNTIME } from './packages.ts';
import { run, writeFile } from './run.ts';

export interface BuildContext {
  repo: string;
  /** build/packaging: stage/, merged/, and the per-format outputs. */
  out: string;
  version: string;
  release: string;
  /** SOURCE_DATE_EPOCH: dates in changelogs and man pages, for reproducible builds. */
  epoch: number;
  maintainer: string;
  /** Cheaper compression (tests and development builds). */
  fast: boolean;
  /** GnuPG key (id or user id) that signs the RPMs; unsigned when absent. */
  signKey?: string;
}

export interface StagedPackage {
  name: string;
  summary: string;
  description: string;
  tree: string;
  /** 'all' for JavaScript-only packages, 'native' for the runtime. */
  arch: 'all' | 'native';
  notices: string;
  /** Licenses of third-party code inside the package (besides Stratus's Apache-2.0). */
  thirdPartyLicenses: string[];
  program?: ProgramPackage;
}

export const UNIT_DIR = '/usr/lib/systemd/system';

const stageDir = (ctx: BuildContext, name: string) => join(ctx.out, 'stage', name);
const rel = (p: string) => p.replace(/^\//, '');

export function stageRuntime(ctx: BuildContext): StagedPackage {
  const tree = stageDir(ctx, RUNTIME.name);
  rmSync(tree, { recursive: true, force: true });
  const lib = join(tree, rel(PREFIX));
  mkdirSync(lib, { recursive: true });
  copyFileSync(process.execPath, join(lib, 'node'));
  run('strip', ['--strip-unneeded', join(lib, 'node')]);
  writeFile(
    join(lib, 'package.json'),
    `${JSON.stringify({ name: 'stratus', version: ctx.version, private: true, type: 'module' }, null, 2)}\n`,
  );
  const sources: NoticeSource[] = [];
  const nodeLicense = nodeLicenseFile(process.execPath);
  if (!nodeLicense) throw new Error(`cannot find the LICENSE of the Node.js at ${process.execPath}`);
  const nodeDir = join(ctx.out, 'stage', '.node-license');
  mkdirSync(nodeDir, { recursive: true });
  copyFileSync(nodeLicense, join(nodeDir, 'LICENSE'));
  sources.push({ name: 'node', version: process.versions.node, license: 'MIT and others', dir: nodeDir });
  for (const [template, files] of Object.entries(RUNTIME.nativeModules)) {
    const mod = template.replace('{arch}', process.arch);
    const from = join(ctx.repo, 'node_modules', mod);
    const to = join(lib, 'node_modules', mod);
    for (const f of files) {
      const src = join(from, f.replace('{arch}', process.arch));
      if (!existsSync(src)) throw new Error(`runtime: ${mod} has no ${f} (is node_modules installed?)`);
      cpSync(src, join(to, f.replace('{arch}', process.arch)), { recursive: true });
      if (f.endsWith('.node')) run('strip', ['--strip-unneeded', join(to, f.replace('{arch}', process.arch))]);
    }
    const meta = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as { version: string; license: string };
    sources.push({ name: mod, version: meta.version, license: meta.license, dir: from });
  }
  // directories 0755, files 0644 (shared objects included), the node binary 0755
  run('chmod', ['-R', 'u=rwX,go=rX', tree]);
  run('find', [tree, '-type', 'f', '-exec', 'chmod', '0644', '{}', '+']);
  run('chmod', ['0755', join(lib, 'node')]);
  return {
    name: RUNTIME.name,
    summary: RUNTIME.summary,
    description: RUNTIME.description,
    tree,
    arch: 'native',
    notices: renderNotices('Node.js and native modules in stratus-runtime', sources),
    thirdPartyLicenses: licenseNames(sources),
  };
}

function launcher(pkg: ProgramPackage): string {
  return [
    '#!/bin/sh',
    `# ${pkg.name}: the Stratus program bundled in ${PREFIX}/${pkg.dir}, run by the Node.js`,
    `# runtime shipped in ${RUNTIME.name} (nothing here depends on a distribution nodejs).`,
    ...Object.entries(pkg.env ?? {}).map(([k, v]) => `export ${k}="\${${k}:-${v}}"`),
    `exec ${PREFIX}/node ${launcherNodeFlags(pkg).join(' ')} ${PREFIX}/${pkg.dir}/${pkg.name}.js "$@"`,
    '',
  ].join('\n');
}

/** The unit as shipped: the source unit with a line naming the build that shipped it. */
function renderUnit(ctx: BuildContext, pkg: ProgramPackage, source: string): string {
  const lines = source.split('\n');
  const firstNonComment = lines.findIndex((l) => !l.startsWith('#'));
  lines.splice(firstNonComment, 0, `# Shipped by ${pkg.name} ${ctx.version}-${ctx.release}.`);
  return lines.join('\n');
}

export async function stageProgram(ctx: BuildContext, pkg: ProgramPackage): Promise<StagedPackage> {
  const tree = stageDir(ctx, pkg.name);
  rmSync(tree, { recursive: true, force: true });
  const programDir = join(tree, rel(PREFIX), pkg.dir);
  const modules = await bundleProgram(ctx.repo, pkg, programDir);
  for (const [dest, src] of Object.entries(pkg.assets ?? {})) {
    if (!existsSync(join(ctx.repo, src))) throw new Error(`${pkg.name}: asset ${src} does not exist`);
    cpSync(join(ctx.repo, src), join(programDir, dest), { recursive: true });
  }
  writeFile(join(tree, 'usr/bin', pkg.name), launcher(pkg), 0o755);
  if (pkg.config) {
    const mod = (await import(pathToFileURL(join(ctx.repo, pkg.config.module)).href)) as Record<string, unknown>;
    const schema = mod[pkg.config.exportName] as TObject<Record<string, TObject>> | undefined;
    if (!schema) throw new Error(`${pkg.config.module} does not export ${pkg.config.exportName}`);
    const text = renderConfigExample(schema, `${pkg.config.title} (${CONFIG_DIR}/${pkg.config.file})`);
    writeFile(join(tree, rel(CONFIG_DIR), pkg.config.file), text);
  }
  if (pkg.unit) {
    const source = readFileSync(join(ctx.repo, 'systemd', pkg.unit), 'utf8');
    writeFile(join(tree, rel(UNIT_DIR), pkg.unit), renderUnit(ctx, pkg, source));
  }
  run('chmod', ['-R', 'u=rwX,go=rX', join(tree, 'usr')]);
  return {
    name: pkg.name,
    summary: pkg.summary,
    description: pkg.description,
    tree,
    arch: 'all',
    notices: renderNotices(`npm packages bundled into ${pkg.name}`, modules),
    thirdPartyLicenses: licenseNames(modules),
    program: pkg,
  };
}

/** All staged trees hard-linked into one root, to run the programs as they will be installed. */
export function mergeStaged(ctx: BuildContext, staged: StagedPackage[]): string {
  const merged = join(ctx.out, 'merged');
  rmSync(merged, { recursive: true, force: true });
  mkdirSync(merged, { recursive: true });
  for (const s of staged) run('cp', ['-al', `${s.tree}/.`, merged]);
  return merged;
}

function manFiles(pkg: ProgramPackage): { path: string; what: string }[] {
  const files: { path: string; what: string }[] = [];
  if (pkg.config) files.push({ path: `${CONFIG_DIR}/${pkg.config.file}`, what: 'configuration file' });
  if (pkg.unit) files.push({ path: `${UNIT_DIR}/${pkg.unit}`, what: 'systemd unit' });
  for (const d of pkg.stateDirs ?? []) files.push({ path: d, what: 'state (kept on removal, deleted on purge)' });
  return files;
}

/**
 * Runs each staged program from the merged root: the runtime's native modules must load and each
 * program must print "<name> <version>"; then renders its man page from its --help.
 */
export function checkAndDocument(ctx: BuildContext, staged: StagedPackage[], merged: string): void {
  const node = join(merged, rel(PREFIX), 'node');
  const probe =
    "import koffi from 'koffi'; import Database from 'better-sqlite3';" +
    "const db = new Database(':memory:'); db.prepare('select 1').get(); db.close();" +
    "koffi.load('libc.so.6'); process.stdout.write('ok');";
  const ok = run(node, ['--input-type=module', '-e', probe], { cwd: join(merged, rel(PREFIX)) });
  if (ok !== 'ok') throw new Error(`runtime self-check printed ${JSON.stringify(ok)}`);
  const programs = staged.filter((s) => s.program).map((s) => s.program!);
  const date = new Date(ctx.epoch * 1000).toISOString().slice(0, 10);
  for (const pkg of programs) {
    const script = join(merged, rel(PREFIX), pkg.dir, `${pkg.name}.js`);
    const version = run(node, [script, '--version']).trim();
    if (version !== `${pkg.name} ${ctx.version}`) {
      throw new Error(`${pkg.name} --version printed "${version}", expected "${pkg.name} ${ctx.version}"`);
    }
    const help = run(node, [script, '--help']);
    const page = renderManPage({
      name: pkg.name,
      section: pkg.manSection,
      summary: pkg.summary,
      version: ctx.version,
      date,
      help,
      files: manFiles(pkg),
      seeAlso: programs.filter((p) => p !== pkg).map((p) => `${p.name}(${p.manSection})`),
    });
    const path = join(`usr/share/man/man${pkg.manSection}`, `${pkg.name}.${pkg.manSection}.gz`);
    const gz = gzipSync(page, { level: 9 });
    const tree = staged.find((s) => s.program === pkg)!.tree;
    writeFile(join(tree, path), gz);
    writeFile(join(merged, path), gz);
  }
}

export function programsPresent(repo: string): { present: ProgramPackage[]; skipped: string[] } {
  const present: ProgramPackage[] = [];
  const skipped: string[] = [];
  for (const p of PROGRAMS) {
    if (existsSync(join(repo, p.main))) present.push(p);
    else skipped.push(`${p.name}: ${p.main} does not exist yet, so it is declared but not built`);
  }
  return { present, skipped };
}
