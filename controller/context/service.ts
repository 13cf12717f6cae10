// Builds each VM's context CD-ROM on the controller and guards its download: the NICs come from the VM's
// IPAM leases (address, mask, gateway, DNS, IPv6 by DHCPv6 or SLAAC), the files from the chosen flavour,
// the ISO from drivers/iso.ts. Each build gets a fresh random token; only its SHA-256 is stored (table
// `context_isos`, feature `context`), with the host the ISO was built for and when the URL expires; the
// agent presents the token (and its host) in the ISO's URL.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parseCidr6 } from '../../common/ip.ts';
import { type Db, migrate } from '../../common/sqlite.ts';
import { validate } from '../../common/validate.ts';
import { ensureDir } from '../../drivers/host-fs.ts';
import { buildIso, type CommandRunner, fileSha256, type IsoTool, removeIso } from '../../drivers/iso.ts';
import { type ContextIso, type ContextNic, ContextRequest } from '../../protocol/context.ts';
import type { IpamService } from '../network/ipam.ts';
import { nocloudFiles } from './nocloud.ts';
import { renderContextSh } from './opennebula.ts';
import { isUuid } from '../../protocol/ids.ts';

const MIGRATIONS = [
  `CREATE TABLE context_isos (
     vm_id TEXT PRIMARY KEY,
     flavour TEXT NOT NULL,
     token_sha256 TEXT NOT NULL,
     size INTEGER NOT NULL,
     sha256 TEXT NOT NULL,
     created_at INTEGER NOT NULL
   )`,
  // capability URLs expire and are bound to the host they were issued for (NULL: any host, admin builds)
  `ALTER TABLE context_isos ADD COLUMN host_id TEXT;
   ALTER TABLE context_isos ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0`,
];

interface Row {
  vm_id: string;
  flavour: 'opennebula' | 'nocloud';
  token_sha256: string;
  size: number;
  sha256: string;
  host_id: string | null;
  expires_at: number;
}

export interface ContextServiceOptions {
  db: Db;
  log: Logger;
  /** Where the ISOs are kept (`<dir>/<vm id>.iso`, mode 0600). */
  dir: string;
  ipam?: IpamService;
  tool?: IsoTool;
  /** Runs the ISO tool outside the controller's process (drivers/spawn-server.ts). */
  runner?: CommandRunner;
  /** Seconds a download URL stays valid ([api] capability_ttl_s). */
  ttlS?: number;
  now?: () => number;
}

const hash = (token: string) => createHash('sha256').update(token).digest();
const isoUrl = (vmId: string, token: string, hostId?: string) =>
  `/context/${vmId}.iso?${new URLSearchParams({ ...(hostId ? { host: hostId } : {}), token })}`;

export class ContextService {
  constructor(private readonly o: ContextServiceOptions) {
    migrate(o.db, 'context', MIGRATIONS);
  }

  path(vmId: string): string {
    if (!isUuid(vmId)) throw new RangeError(`bad VM id ${vmId}`);
    return join(this.o.dir, `${vmId}.iso`);
  }

  /** The VM's NICs as the context describes them, from its leases (in NIC order). */
  nicsFromLeases(vmId: string): ContextNic[] {
    if (!this.o.ipam) return [];
    return this.o.ipam
      .leasesOfVm(vmId)
      .sort((a, b) => (a.nicIndex ?? 0) - (b.nicIndex ?? 0))
      .map((l) => {
        const net = this.o.ipam!.getNetwork(l.networkId);
        const v4 = net.ipv4;
        const v6 = net.ipv6;
        return {
          mac: l.mac!,
          ipv4: l.ipv4 ?? undefined,
          prefix4: v4 ? Number(v4.cidr.split('/')[1]) : undefined,
          gateway4: v4?.gateway,
          dns4: v4?.dns,
          ipv6: l.ipv6 ?? l.ipv6Slaac ?? undefined,
          prefix6: v6 ? parseCidr6(v6.prefix).prefix : undefined,
          gateway6: v6?.gateway,
          dns6: v6?.dns,
          network: net.name,
        };
      });
  }

  /**
   * Builds (or rebuilds) the VM's context ISO. `nics` defaults to the VM's leases. Returns the ISO's
   * description with `token` and `url` (relative to /v1): the only time the token is known.
   */
  async build(
    input: unknown,
    nics?: ContextNic[],
    hostId?: string,
  ): Promise<ContextIso & { token: string; url: string; expiresAt: number }> {
    const req = validate(ContextRequest, input, 'context request');
    const list = nics ?? this.nicsFromLeases(req.vmId);
    const label = req.flavour === 'nocloud' ? 'cidata' : 'CONTEXT';
    const files = req.flavour === 'nocloud' ? nocloudFiles(req, list) : { 'context.sh': renderContextSh(req, list) };
    await ensureDir(this.o.dir, 0o700);
    const path = this.path(req.vmId);
    const { size, sha256 } = await buildIso({
      label,
      files,
      out: path,
      mode: 0o600,
      ...(this.o.tool ? { tool: this.o.tool } : {}),
      ...(this.o.runner ? { runner: this.o.runner } : {}),
    });
    const { token, expiresAt, now } = this.mint();
    this.o.db
      .prepare(
        `INSERT INTO context_isos (vm_id, flavour, token_sha256, size, sha256, created_at, host_id, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (vm_id) DO UPDATE SET flavour = excluded.flavour, token_sha256 = excluded.token_sha256,
           size = excluded.size, sha256 = excluded.sha256, created_at = excluded.created_at,
           host_id = excluded.host_id, expires_at = excluded.expires_at`,
      )
      .run(req.vmId, req.flavour, hash(token).toString('hex'), size, sha256, now, hostId ?? null, expiresAt);
    this.o.log.info({ vm: req.vmId, flavour: req.flavour, size, nics: list.length }, 'context ISO built');
    return {
      vmId: req.vmId,
      flavour: req.flavour,
      label,
      size,
      sha256,
      path,
      token,
      expiresAt,
      url: isoUrl(req.vmId, token, hostId),
    };
  }

  private mint(): { token: string; expiresAt: number; now: number } {
    const now = (this.o.now ?? Date.now)();
    return { token: randomBytes(32).toString('base64url'), expiresAt: now + (this.o.ttlS ?? 3600) * 1000, now };
  }

  /**
   * A new download URL for the VM's existing ISO, bound to `hostId` (a VM migrating there): its content
   * does not depend on the host, so it is not built again. Undefined when there is no ISO, or the file on
   * disk is not the one recorded (then the caller builds it).
   */
  async reissue(vmId: string, hostId: string): Promise<{ url: string; sha256: string } | undefined> {
    const iso = this.get(vmId);
    if (!iso || (await fileSha256(iso.path)) !== iso.sha256) return undefined;
    const { token, expiresAt } = this.mint();
    this.o.db
      .prepare('UPDATE context_isos SET token_sha256 = ?, host_id = ?, expires_at = ? WHERE vm_id = ?')
      .run(hash(token).toString('hex'), hostId, expiresAt, vmId);
    this.o.log.info({ vm: vmId, host: hostId }, 'context ISO URL issued again for another host');
    return { url: isoUrl(vmId, token, hostId), sha256: iso.sha256 };
  }

  get(vmId: string): ContextIso | undefined {
    const r = this.o.db.prepare('SELECT * FROM context_isos WHERE vm_id = ?').get(vmId) as Row | undefined;
    if (!r) return undefined;
    const label = r.flavour === 'nocloud' ? 'cidata' : 'CONTEXT';
    return { vmId: r.vm_id, flavour: r.flavour, label, size: r.size, sha256: r.sha256, path: this.path(r.vm_id) };
  }

  /**
   * Why `token` (presented by `host`) may not download the VM's ISO, or undefined when it may: it must be
   * the current token (constant-time comparison), unexpired, and presented for the host it was built for.
   */
  refusal(vmId: string, token: string, host: string | undefined): string | undefined {
    const r = this.o.db
      .prepare('SELECT token_sha256, host_id, expires_at FROM context_isos WHERE vm_id = ?')
      .get(vmId) as Pick<Row, 'token_sha256' | 'host_id' | 'expires_at'> | undefined;
    if (!r || !timingSafeEqual(Buffer.from(r.token_sha256, 'hex'), hash(token))) return 'wrong or outdated token';
    if (r.expires_at <= (this.o.now ?? Date.now)()) return `expired at ${new Date(r.expires_at).toISOString()}`;
    if (r.host_id !== null && r.host_id !== host) return `issued for another host than ${host ?? '(none)'}`;
    return undefined;
  }

  /** Whether `token` may download the VM's ISO now (see refusal). */
  checkToken(vmId: string, token: string, host?: string): boolean {
    return this.refusal(vmId, token, host) === undefined;
  }

  /** Forgets the VM's ISO (VM deleted). */
  async remove(vmId: string): Promise<void> {
    this.o.db.prepare('DELETE FROM context_isos WHERE vm_id = ?').run(vmId);
    await removeIso(this.path(vmId));
  }
}
