// Pre-flight checks of a VM spec against this host: every file it names is readable and every bridge
// exists. Run before anything is created, so that bad input fails with nothing to undo.

import type { HostPathGuard } from '../../common/host-paths.ts';
import { isReadableFile } from '../../drivers/host-fs.ts';
import { bridgeExists } from '../../drivers/net-links.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import { BridgeNotFoundError, HostFileMissingError } from '../errors.ts';

/** The host paths a spec names (kernel, initrd, disks, CD-ROMs), with their role for messages. */
export function hostPathsOf(spec: VmSpec): [string, string][] {
  const files: [string, string][] = [];
  // boot files that name an image are fetched into the cache by instance disks, not checked here
  if (typeof spec.boot?.kernel === 'string') files.push(['kernel', spec.boot.kernel]);
  if (typeof spec.boot?.initrd === 'string') files.push(['initrd', spec.boot.initrd]);
  // image disks are fetched and verified by the image cache instead
  for (const d of spec.disks) if ('path' in d) files.push(['disk', d.path]);
  for (const c of spec.cdroms) files.push(['CD-ROM', c.path]);
  return files;
}

/** Every host path of the spec lies under [agent] allowed_roots once symlinks are resolved (403 otherwise). */
export async function checkSpecPaths(spec: VmSpec, guard: HostPathGuard): Promise<void> {
  for (const [role, path] of hostPathsOf(spec)) await guard.check(role, path);
}

export async function checkSpecOnHost(spec: VmSpec, host: string): Promise<void> {
  for (const [role, path] of hostPathsOf(spec)) {
    if (!(await isReadableFile(path))) throw new HostFileMissingError(role, path, host);
  }
  for (const nic of spec.nics) {
    if (!(await bridgeExists(nic.bridge))) throw new BridgeNotFoundError(nic.bridge, host);
  }
}
