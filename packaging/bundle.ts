// Bundles one program with esbuild: ESM for Node 20, every npm dependency inlined except the native
// modules (EXTERNAL_MODULES, loaded from the runtime package's node_modules), extra entry points (worker
// threads) written beside the main bundle so that `new URL('./call-worker.js', import.meta.url)` finds
// them, and linked source maps without sources whose paths are rewritten to `stratus:///<repo path>`, so
// that stack traces under --enable-source-maps name the original file and line ("stratus:///agent/
// vm-service.ts:120"). Whitespace and comments are left out (minifyWhitespace; names are kept): V8 keeps
// each script's source in the heap, one byte per character only while every character is Latin-1, and
// one em dash in a dependency's comment doubled the agent's 3.9 MB source to 7.4 MB of heap; the build
// fails if a bundle still holds a character beyond Latin-1. Returns the npm packages that went into the
// bundle, for the third-party notices.

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { build } from 'esbuild';
import { EXTERNAL_MODULES, type ProgramPackage } from './packages.ts';

export interface BundledModule {
  name: string;
  version: string;
  license: string;
  /** Directory of the package in node_modules (for its license file). */
  dir: string;
}

/** CommonJS dependencies call require(); an ESM bundle gets a real one from node:module. */
const REQUIRE_SHIM =
  "import { createRequire as __stratusCreateRequire } from 'node:module';\n" +
  'const require = __stratusCreateRequire(import.meta.url);';

export async function bundleProgram(repo: string, pkg: ProgramPackage, outDir: string): Promise<BundledModule[]> {
  const entryPoints: Record<string, string> = { [pkg.name]: join(repo, pkg.entry ?? pkg.main) };
  for (const [name, src] of Object.entries(pkg.extraEntries ?? {})) entryPoints[name] = join(repo, src);
  const result = await build({
    absWorkingDir: repo,
    entryPoints,
    outdir: outDir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL_MODULES,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'none',
    minifyWhitespace: true,
    metafile: true,
    logLevel: 'error',
    banner: { js: REQUIRE_SHIM },
  });
  for (const out of Object.keys(result.metafile.outputs).filter((o) => o.endsWith('.js'))) {
    const wide = /[^\u0000-\u00ff]/.exec(readFileSync(resolve(repo, out), 'utf8'));
    if (wide)
      throw new Error(
        `${out}: character U+${wide[0].codePointAt(0)!.toString(16).padStart(4, '0')} at offset ${wide.index} is beyond Latin-1: V8 would keep the whole source at two bytes per character`,
      );
  }
  for (const out of Object.keys(result.metafile.outputs).filter((o) => o.endsWith('.map'))) {
    const file = resolve(repo, out);
    const map = JSON.parse(readFileSync(file, 'utf8')) as { sources: string[]; sourceRoot?: string };
    map.sources = map.sources.map((s) => relative(repo, resolve(dirname(file), s)));
    map.sourceRoot = 'stratus:///';
    writeFileSync(file, JSON.stringify(map));
  }
  return bundledModules(repo, Object.keys(result.metafile.inputs));
}

/** The npm packages (name, version, license) whose files the bundle contains. */
function bundledModules(repo: string, inputs: string[]): BundledModule[] {
  const dirs = new Set<string>();
  for (const input of inputs) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) dirs.add(m[1]!);
  }
  const out: BundledModule[] = [];
  for (const rel of [...dirs].sort()) {
    const dir = join(repo, rel);
    const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
      license?: string | { type: string };
    };
    const license = typeof meta.license === 'object' ? meta.license.type : (meta.license ?? 'UNKNOWN');
    out.push({ name: meta.name, version: meta.version, license, dir });
  }
  return out;
}
