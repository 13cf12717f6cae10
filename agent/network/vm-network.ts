// The agent's side of networks, hooked into VM create/delete and the reconcile loop: the bridge of each
// NIC that belongs to a Stratus network is made on this host when missing (with its uplink or VLAN),
// the NIC's nftables rules are installed before the VM starts and removed with it, and every resync
// re-applies the rules of known VMs and removes the rules of taps that no VM owns any more.

import type { Logger } from 'pino';
import type { Reverter } from '../../common/reverter.ts';
import { bridgeConntrackSupported, NftBridgeFirewall } from '../../drivers/nft.ts';
import { ensureBridge } from '../../drivers/net-links.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import { tapName } from '../domain-xml.ts';
import { nicRules } from './firewall-rules.ts';

export interface VmNetworkOptions {
  log: Logger;
  /** nftables table (bridge family) holding the per-VM chains. */
  table?: string;
}

export class VmNetwork {
  readonly firewall: NftBridgeFirewall;

  constructor(private readonly o: VmNetworkOptions) {
    this.firewall = new NftBridgeFirewall(o.table ?? 'stratus');
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

  /** Installs the NICs' rules (before the VM starts) and registers their removal with the reverter. */
  async applyFirewall(spec: VmSpec, r?: Reverter): Promise<void> {
    for (const { tap, rules } of await this.rules(spec)) {
      if (rules.fromPort.length === 0 && rules.toPort.length === 0) continue;
      r?.add(`remove firewall rules of ${tap}`, () => this.firewall.removePort(tap));
      await this.firewall.applyPort(tap, rules);
    }
  }

  /** Removes every rule of the VM's taps (deletion). */
  async releaseVm(spec: VmSpec): Promise<void> {
    for (let i = 0; i < spec.nics.length; i++) await this.firewall.removePort(tapName(spec.id, i));
  }

  /** Re-applies the rules of `specs` and removes those of taps no VM owns (after a crash, or by hand). */
  async reconcile(specs: readonly VmSpec[]): Promise<void> {
    const wanted = new Set<string>();
    for (const spec of specs) {
      for (const { tap, rules } of await this.rules(spec)) {
        if (rules.fromPort.length === 0 && rules.toPort.length === 0) continue;
        wanted.add(tap);
        await this.firewall.applyPort(tap, rules);
      }
    }
    for (const tap of await this.firewall.listPorts()) {
      if (!wanted.has(tap)) {
        this.o.log.warn({ tap }, 'firewall rules of an unknown tap removed');
        await this.firewall.removePort(tap);
      }
    }
  }
}
