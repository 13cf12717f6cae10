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
    default_network: Type.String({
      default: '',
      maxLength: 64,
      description: 'Network (name or id) of the first NIC of every VM; empty: VMs get no NIC by default',
    }),
    context_flavour: Type.Union([Type.Literal('opennebula'), Type.Literal('nocloud')], {
      default: 'opennebula',
      description: 'Context CD-ROM flavour of deployed VMs: opennebula (CONTEXT, context.sh) or nocloud (cidata)',
    }),
    context_addressing: Type.Union([Type.Literal('static'), Type.Literal('dhcp')], {
      default: 'static',
      description: 'How deployed VMs configure their NICs: static addresses from the context, or DHCP',
    }),
  },
  { description: 'Networks: address management, DHCP with dnsmasq, context CD-ROMs' },
);
