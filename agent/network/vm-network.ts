// The agent's side of networks, hooked into VM create/delete and the reconcile loop: the bridge of each
// NIC that belongs to a Stratus network is made on this host when missing (with its uplink or VLAN),
// the NIC's nftables rules are installed before the VM starts and removed with it, and every resync
// re-applies the rules of known VMs and removes the rules of taps that no VM owns any more. A spec's
// context CD-ROM (a controller URL with the VM's token) is downloaded, checked and attached.

import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { StratusError, ValidationError } from '../../common/errors.ts';
import type { Reverter } from '../../common/reverter.ts';
import { ensureDir, removeFile, writeFileAtomicHashed } from '../../drivers/host-fs.ts';
import { httpGet } from '../../drivers/http-fetch.ts';
import { fileSha256 } from '../../drivers/iso.ts';
import { bridgeConntrackSupported, NftBridgeFirewall } from '../../drivers/nft.ts';
import { ensureBridge } from '../../drivers/net-links.ts';
import type { ContextRef } from '../../protocol/context.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import { tapName } from '../vm/domain-xml.ts';
import { nicRules } from './firewall-rules.ts';

export interface VmNetworkOptions {
  log: Logger;
  /** nftables table (bridge family) holding the per-VM chains. */
  table?: string;
  /** Where downloaded context CD-ROMs are kept (`<dir>/<vm id>.iso`). */
  contextDir?: string;
}

const redact = (text: string) => text.replace(/token=[^&\s]*/g, 'token=…');

export class ContextFetchError extends StratusError {
  constructor(url: string, message: string) {
    super('STRATUS_ERR_CONTEXT_FETCH', `context CD-ROM ${redact(url)}: ${message}`, { status: 502 });
  }
}

const MAX_CONTEXT_BYTES = 64 << 20;

export class VmNetwork {
  readonly firewall: NftBridgeFirewall;

  constructor(private readonly o: VmNetworkOptions) {
    this.firewall = new NftBridgeFirewall(o.table ?? 'stratus');
  }

  contextPath(vmId: string): string {
    return join(this.o.contextDir ?? '/var/lib/stratus/agent/context', `${vmId}.iso`);
  }

  /**
   * What the spec needs on this host before the pre-flight checks: the bridges, and the context CD-ROM
   * downloaded, checked against its SHA-256 and attached as the last CD-ROM.
   */
  async prepareSpec(spec: VmSpec): Promise<VmSpec> {
    await this.ensureBridges(spec);
    if (!spec.context) return spec;
    const path = this.contextPath(spec.id);
    if (spec.cdroms.some((c) => c.path === path)) return spec;
    if (spec.cdroms.length >= 4)
      throw new ValidationError('a VM with a context CD-ROM can have at most 3 other CD-ROMs');
    await this.fetchContext(spec.context, path);
    return { ...spec, cdroms: [...spec.cdroms, { path }] };
  }

  /** The spec without what prepareSpec added on this host (its copy of the context CD-ROM). */
  unprepareSpec(spec: VmSpec): VmSpec {
    const path = this.contextPath(spec.id);
    return { ...spec, cdroms: spec.cdroms.filter((c) => c.path !== path) };
  }

  private async fetchContext(ref: ContextRef, path: string): Promise<void> {
    if ((await fileSha256(path)) === ref.sha256) return; // a retried deploy
    await ensureDir(dirname(path), 0o700);
    const res = await httpGet(ref.url, { idleTimeoutMs: 30_000 }).catch((err: Error & { details?: object }) => {
      // the URL carries the VM's token: never let it reach an error or a log
      const status = (err.details as { httpStatus?: number } | undefined)?.httpStatus;
      throw new ContextFetchError(ref.url, status ? `HTTP ${status}` : redact(err.message));
    });
    if (res.status !== 200) {
      res.body.resume();
      throw new ContextFetchError(ref.url, `HTTP ${res.status}`);
    }
    if ((res.totalLength ?? 0) > MAX_CONTEXT_BYTES) {
      res.body.destroy();
      throw new ContextFetchError(ref.url, `larger than ${MAX_CONTEXT_BYTES} bytes`);
    }
    const got = await writeFileAtomicHashed(path, res.body);
    if (got.sha256 !== ref.sha256) {
      await removeFile(path);
      throw new ContextFetchError(ref.url, `SHA-256 ${got.sha256} is not the expected ${ref.sha256}`);
    }
    this.o.log.info({ path, size: got.size }, 'context CD-ROM downloaded');
  }

  /** Makes the bridges of the spec's Stratus-network NICs (idempotent, never undone: bridges are shared). */
  async ensureBridges(spec: VmSpec): Promise<void> {
    for (const nic of spec.nics) {
      if (nic.network === undefined && nic.uplink === undefined) continue;
      if (await ensureBridge(nic.bridge, { uplink: nic.uplink })) {
        this.o.log.info({ bridge: nic.bridge, uplink: nic.uplink, network: nic.network }, 'bridge created');
      }
    }
  }

  private async rules(spec: VmSpec) {
    const conntrack = await bridgeConntrackSupported();
    return spec.nics.map((nic, i) => ({ tap: tapName(spec.id, i), rules: nicRules(nic, { conntrack }) }));
  }

  /**
   * Inside create's undo stack: installs the NICs' rules (before the domain exists) and registers their
   * removal, and that of the downloaded context CD-ROM, should a later step fail.
   */
  async installForVm(spec: VmSpec, r?: Reverter): Promise<void> {
    if (spec.context) r?.add('remove context CD-ROM', () => removeFile(this.contextPath(spec.id)));
    for (const { tap, rules } of await this.rules(spec)) {
      if (rules.fromPort.length === 0 && rules.toPort.length === 0) continue;
      r?.add(`remove firewall rules of ${tap}`, () => this.firewall.removePort(tap));
      await this.firewall.applyPort(tap, rules);
    }
  }

  /** Removes every rule of the VM's taps and its context CD-ROM (deletion). */
  async releaseVm(spec: VmSpec): Promise<void> {
    for (let i = 0; i < spec.nics.length; i++) await this.firewall.removePort(tapName(spec.id, i));
    await removeFile(this.contextPath(spec.id));
  }

  /** Re-applies a VM's rules (the reconcile loop, under the VM's lock: it cannot race its deletion). */
  async reapply(spec: VmSpec): Promise<void> {
    for (const { tap, rules } of await this.rules(spec)) {
      if (rules.fromPort.length > 0 || rules.toPort.length > 0) await this.firewall.applyPort(tap, rules);
    }
  }

  /**
   * Removes the rules of taps no VM owns (left by a crash, or made by hand). The installed ports are
   * listed before the VMs are read, so a VM created meanwhile is either not listed yet or already known.
   */
  async removeStale(currentSpecs: () => readonly VmSpec[]): Promise<void> {
    const installed = await this.firewall.listPorts();
    if (installed.length === 0) return;
    const owned = new Set(currentSpecs().flatMap((spec) => spec.nics.map((_, i) => tapName(spec.id, i))));
    for (const tap of installed) {
      if (owned.has(tap)) continue;
      this.o.log.warn({ tap }, 'firewall rules of an unknown tap removed');
      await this.firewall.removePort(tap);
    }
  }
}
