// Builds the .rpm packages of one RPM family with rpmbuild: writes the generated spec and each package's
// license files, then `rpmbuild -bb` with the family's defines (dist tag, %rhel / %fedora /
// %suse_version). When the building rpm lacks the systemd scriptlet macros (Debian's rpm does), the
// stand-ins of packaging/rpm/macros.fallback are loaded first. With a signing key, rpmsign signs the
// result (GNUPGHOME selects the keyring).

import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAMILIES, type Family } from './families.ts';
import { renderSpec } from './rpm-spec.ts';
import { run, writeFile } from './run.ts';
import type { BuildContext, StagedPackage } from './stage.ts';

const APACHE_LICENSE = '/usr/share/common-licenses/Apache-2.0';

function needsFallbackMacros(): boolean {
  return run('rpm', ['--eval', '%{?systemd_post:yes}%{?service_add_post:yes}']).trim() !== 'yesyes';
}

/** Per-package LICENSE (Stratus's Apache-2.0, or Node's for the runtime) and THIRD-PARTY-NOTICES. */
function writeMeta(metaDir: string, staged: StagedPackage[], nodeLicense: string): void {
  for (const s of staged) {
    const dir = join(metaDir, s.name);
    mkdirSync(dir, { recursive: true });
    run('cp', [s.arch === 'native' ? nodeLicense : APACHE_LICENSE, join(dir, 'LICENSE')]);
    writeFileSync(join(dir, 'THIRD-PARTY-NOTICES'), s.notices);
  }
}

export function buildRpms(
  ctx: BuildContext,
  staged: StagedPackage[],
  family: Family,
  outDir: string,
  nodeLicense: string,
): string[] {
  const info = FAMILIES[family];
  if (info.format !== 'rpm') throw new Error(`${family} is not an RPM family`);
  if (!existsSync(APACHE_LICENSE)) throw new Error(`${APACHE_LICENSE} is missing (Debian's base-files ships it)`);
  const top = join(ctx.out, 'rpm', family);
  rmSync(top, { recursive: true, force: true });
  const meta = join(top, 'meta');
  writeMeta(meta, staged, nodeLicense);
  const defines: string[] = [];
  const define = (k: string, v: string) => defines.push('--define', `${k} ${v}`);
  define('_topdir', top);
  define('stagedir', join(ctx.out, 'stage'));
  define('metadir', meta);
  define('dist', info.dist ?? '');
  define('source_date_epoch_from_changelog', '0');
  define('use_source_date_epoch_as_buildtime', '1');
  define('_binary_payload', ctx.fast ? 'w9T.zstdio' : 'w6T.xzdio');
  for (const [k, v] of Object.entries(info.rpmDefines ?? {})) define(k, v);
  const macros = needsFallbackMacros() ? ['--load', join(ctx.repo, 'packaging/rpm/macros.fallback')] : [];
  for (const s of staged) {
    const spec = join(top, 'SPECS', `${s.name}.spec`);
    writeFile(spec, renderSpec(ctx, s));
    run('rpmbuild', [...macros, ...defines, '-bb', '--quiet', spec], {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(ctx.epoch) },
    });
  }
  mkdirSync(outDir, { recursive: true });
  const built: string[] = [];
  for (const arch of readdirSync(join(top, 'RPMS'))) {
    for (const f of readdirSync(join(top, 'RPMS', arch))) {
      renameSync(join(top, 'RPMS', arch, f), join(outDir, f));
      built.push(join(outDir, f));
    }
  }
  if (ctx.signKey) {
    const gpg = ['/usr/bin/gpg', '/usr/bin/gpg2'].find((g) => existsSync(g)) ?? 'gpg';
    run('rpmsign', ['--addsign', '--define', `_gpg_name ${ctx.signKey}`, '--define', `__gpg ${gpg}`, ...built]);
  }
  return built.sort();
}
