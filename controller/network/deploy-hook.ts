// The network side of a deploy (a controller/vms DeployHook): leases an address on each network the VM
// asks for (a retried deploy gets the same lease) and adds the NICs to the spec with what the agent
// needs (bridge, MAC, uplink, addresses for anti-spoofing, security group). Releasing gives the leases
// back. The context CD-ROM built from these leases is the next hook's (controller/context/deploy-hook.ts).

import type { NicFirewall } from '../../protocol/network.ts';
import type { VmSpec } from '../../protocol/vm-spec.ts';
import type { DeployHook } from '../vms/deploy-hook.ts';
import type { VmRecord } from '../vms/store.ts';
import type { IpamService } from './ipam.ts';

/** One NIC a VM asks for: its network (id or name) and its security group. */
export interface NicRequest {
  network: string;
  firewall?: NicFirewall;
}

export interface NetworkDeployHookOptions {
  ipam: IpamService;
  /** The NICs of a VM (from its creation request, or the configured default network). */
  nicsFor: (vm: VmRecord) => NicRequest[];
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

  async prepare(vm: VmRecord, _hostId: string, spec: VmSpec): Promise<VmSpec> {
    const requests = this.o.nicsFor(vm);
    if (requests.length === 0) return spec;
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
    return { ...spec, nics };
  }

  release(vm: VmRecord): void {
    this.o.ipam.releaseVm(vm.id);
  }
}
