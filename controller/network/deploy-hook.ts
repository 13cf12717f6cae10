// The network side of a deploy (a controller/vms DeployHook): leases an address on each network the VM
// asks for (a retried deploy gets the same lease), adds the NICs to the spec with what the agent needs
// (bridge, MAC, uplink, addresses for anti-spoofing, security group), builds the VM's context CD-ROM
// (every VM has one: host name, NICs, and the keys and user data it was created with) and points the
// spec at its token URL. Releasing gives the leases and the ISO back.

import type { ContextFlavour } from '../../protocol/context.ts';
import type { NicFirewall } from '../../protocol/network.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import type { ContextService } from '../context/service.ts';
import type { VmContextRequest } from '../context/vm-context.ts';
import type { DeployHook } from '../vms/spec-builder.ts';
import type { VmRecord } from '../vms/store.ts';
import type { IpamService } from './ipam.ts';

/** One NIC a VM asks for: its network (id or name) and its security group. */
export interface NicRequest {
  network: string;
  firewall?: NicFirewall;
}

export interface NetworkDeployHookOptions {
  ipam: IpamService;
  context: ContextService;
  /** The NICs of a VM (from its creation request, or the configured default network). */
  nicsFor: (vm: VmRecord) => NicRequest[];
  /** Base URL agents reach the API at (without /v1). */
  publicUrl: () => string;
  flavour: ContextFlavour;
  addressing: 'static' | 'dhcp';
  /** What the VM's creation asked of its context (keys, user data, method...). */
  contextFor?: (vm: VmRecord) => VmContextRequest | undefined;
}

/** A host name from a VM name: letters, digits and inner dashes, at most 63. */
export function hostnameOf(name: string): string {
  const h = name
    .replace(/[^A-Za-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return h || 'vm';
}

export class NetworkDeployHook implements DeployHook {
  readonly name = 'network';

  constructor(private readonly o: NetworkDeployHookOptions) {}

  async prepare(vm: VmRecord, hostId: string, spec: VmSpec): Promise<VmSpec> {
    const requests = this.o.nicsFor(vm);
    const hostname = hostnameOf(vm.name);
    const nics = [...spec.nics];
    for (const req of requests) {
      const lease = this.o.ipam.allocate(req.network, { vmId: vm.id, nicIndex: nics.length, hostname });
      const net = this.o.ipam.getNetwork(lease.networkId);
      nics.push({
        bridge: net.bridge,
        mac: lease.mac!,
        network: net.name,
        ...(net.uplink ? { uplink: net.uplink } : {}),
        ...(lease.ipv4 ? { ipv4: [lease.ipv4] } : {}),
        ...(lease.ipv6 || lease.ipv6Slaac
          ? { ipv6: [lease.ipv6, lease.ipv6Slaac].filter((a): a is string => a !== null) }
          : {}),
        firewall: req.firewall ?? { antiSpoofing: true },
      });
    }
    // every VM gets a context CD-ROM, with or without NICs: its host name, keys and user data; its
    // download URL is bound to the host the VM is deployed on and expires
    const asked = this.o.contextFor?.(vm);
    const iso = await this.o.context.build(
      { flavour: this.o.flavour, ...asked, vmId: vm.id, hostname, addressing: this.o.addressing },
      undefined,
      hostId,
    );
    return {
      ...spec,
      nics,
      context: { url: `${this.o.publicUrl().replace(/\/$/, '')}/v1${iso.url}`, sha256: iso.sha256 },
    };
  }

  async release(vm: VmRecord): Promise<void> {
    this.o.ipam.releaseVm(vm.id);
    await this.o.context.remove(vm.id);
  }
}
