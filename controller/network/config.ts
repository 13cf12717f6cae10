// The controller's [network] configuration section: whether this node runs the networks' DHCP servers,
// where their files and the context ISOs live, and how lease changes are batched.

import { Type } from '@sinclair/typebox';

export const NetworkConfigSchema = Type.Object(
  {
    dhcp: Type.Boolean({
      default: true,
      description: 'Run one dnsmasq per network on this node (the network node), on the network bridge',
    }),
    dhcp_dir: Type.String({
      default: '/var/lib/stratus/dhcp',
      description: "Files of each network's dnsmasq; dnsmasq reads them as nobody, so the path must be world-readable",
    }),
    dhcp_batch_ms: Type.Integer({
      default: 50,
      minimum: 0,
      maximum: 10_000,
      description: 'Lease changes within this many milliseconds share one hosts-file rewrite and SIGHUP',
    }),
    manage_links: Type.Boolean({
      default: true,
      description:
        "Create each network's bridge (and uplink or VLAN) on this node and put the DHCP server addresses on it",
    }),
    context_dir: Type.String({ default: '', description: 'Where context ISOs are kept; empty: <state_dir>/context' }),
  },
  { description: 'Networks: address management, DHCP with dnsmasq, context CD-ROMs' },
);
