// Host paths a request may name (disks, CD-ROMs, kernels, file volumes) must lie under configured roots
// (`allowed_roots` in the agent and controller configuration). The path is judged after symlinks are
// resolved (the caller passes the realpath from drivers/host-fs.ts), so a link inside a root that points
// outside it is refused too. Pure policy: no filesystem access here.

import { isAbsolute, normalize, sep } from 'node:path';
import { StratusError } from './errors.ts';

export class HostPathNotAllowedError extends StratusError {
  constructor(role: string, path: string, resolved: string, roots: readonly string[]) {
    const via = resolved !== path ? ` (resolves to ${resolved})` : '';
    const where = roots.length ? `under ${roots.join(', ')}` : 'anywhere: allowed_roots is empty';
    super(
      'STRATUS_ERR_HOST_PATH_NOT_ALLOWED',
      `${role} path ${path}${via} is not allowed; host paths must be ${where}`,
      {
        status: 403,
        details: { role, path, resolved, allowedRoots: [...roots] },
      },
    );
  }
}

/** Whether `path` (absolute, normalised) is `root` or lies below it. */
export function isUnder(path: string, root: string): boolean {
  const p = normalize(path);
  const r = normalize(root).replace(/\/+$/, '') || '/';
  if (r === '/') return isAbsolute(p);
  return p === r || p.startsWith(r + sep);
}

/**
 * Throws HostPathNotAllowedError unless the resolved path lies under one of the roots (the roots are
 * compared both as written and resolved, so a root that is itself a symlink works).
 */
export function assertUnderRoots(
  role: string,
  path: string,
  resolved: string,
  roots: readonly { given: string; resolved: string }[],
): void {
  if (!isAbsolute(path) || path.includes('\0'))
    throw new HostPathNotAllowedError(
      role,
      path,
      resolved,
      roots.map((r) => r.given),
    );
  if (roots.some((r) => isUnder(resolved, r.resolved))) return;
  throw new HostPathNotAllowedError(
    role,
    path,
    resolved,
    roots.map((r) => r.given),
  );
}

/** Checks paths against the configured roots; `realpath` is drivers/host-fs.ts resolveRealPath. */
export class HostPathGuard {
  private roots: Promise<{ given: string; resolved: string }[]> | undefined;

  constructor(
    readonly allowedRoots: readonly string[],
    private readonly realpath: (p: string) => Promise<string>,
  ) {}

  private resolvedRoots(): Promise<{ given: string; resolved: string }[]> {
    this.roots ??= Promise.all(
      this.allowedRoots.map(async (given) => ({ given, resolved: await this.realpath(given) })),
    );
    return this.roots;
  }

  /** Resolves `path` (symlinks followed) and throws HostPathNotAllowedError when it is outside every root. */
  async check(role: string, path: string): Promise<string> {
    const resolved = isAbsolute(path) && !path.includes('\0') ? await this.realpath(path) : path;
    const roots = await this.resolvedRoots();
    assertUnderRoots(role, path, resolved, [
      ...roots,
      ...roots.filter((r) => r.given !== r.resolved).map((r) => ({ given: r.given, resolved: r.given })),
    ]);
    return resolved;
  }
}
