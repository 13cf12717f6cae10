// The catalogue of protocol v1: every topic with its direction, QoS, retain flag and payload schema.
// docs/mqtt.md is generated from it (scripts/gen-mqtt-docs.ts), and the broker ACL follows the same
// prefixes (controller/mqtt/acl.ts).

import type { TSchema } from '@sinclair/typebox';
import { Command, CommandReply } from './commands.ts';
import { HostEvent } from './events.ts';
import { HostInfo, HostMetrics, HostStatus } from './host.ts';
import { HostInventory } from './inventory.ts';
import { ROOT } from './topics.ts';
import { VmMetricsBatch, VmState } from './vm.ts';

export interface MessageDoc {
  name: string;
  topic: string;
  from: 'agent' | 'controller' | 'broker (Last Will)';
  qos: 0 | 1;
  retained: boolean;
  schema: TSchema;
  notes: string;
}

export const catalog: MessageDoc[] = [
  {
    name: 'Host status',
    topic: `${ROOT}/hosts/{host}/status`,
    from: 'agent',
    qos: 1,
    retained: true,
    schema: HostStatus,
    notes:
      'Published "online" after each connect. The same topic is the Last Will: "offline" with reason "last-will" and the session counter of the connection it belongs to, so a late Will never hides a newer "online" (receivers compare `session`; the agent also republishes "online" if it sees an older Will).',
  },
  {
    name: 'Host information',
    topic: `${ROOT}/hosts/{host}/info`,
    from: 'agent',
    qos: 1,
    retained: true,
    schema: HostInfo,
    notes: 'Republished at each connect, and when it changes (checked about once a minute).',
  },
  {
    name: 'Host metrics',
    topic: `${ROOT}/hosts/{host}/metrics`,
    from: 'agent',
    qos: 0,
    retained: false,
    schema: HostMetrics,
    notes: 'Every `metrics_interval_s` (default 10 s). Not queued while offline: only the latest state matters.',
  },
  {
    name: 'Host inventory',
    topic: `${ROOT}/hosts/{host}/inventory`,
    from: 'agent',
    qos: 1,
    retained: true,
    schema: HostInventory,
    notes:
      'Every VM the host has: libvirt state, desired state, the attempt key that created it, its spec hash and any unfinished operation; plus the unclaimed domains carrying this host id (removed after `agent.orphan_grace_s` unless claimed). Published after every connect and on every change (debounced). `complete` is false while the agent recovers or cannot list libvirt: only a complete inventory proves that a VM is absent. Receivers order inventories by (`session`, `seq`).',
  },
  {
    name: 'VM state',
    topic: `${ROOT}/hosts/{host}/vms/{vm}/state`,
    from: 'agent',
    qos: 1,
    retained: true,
    schema: VmState,
    notes:
      'On every state change (libvirt lifecycle events) and at each connect. A deleted VM gets state "deleted" and then an empty retained payload, which removes the retained message.',
  },
  {
    name: 'VM metrics (batched per host)',
    topic: `${ROOT}/hosts/{host}/vm-metrics`,
    from: 'agent',
    qos: 0,
    retained: false,
    schema: VmMetricsBatch,
    notes: 'One message per host and interval with every VM, from virConnectGetAllDomainStats.',
  },
  {
    name: 'Host events',
    topic: `${ROOT}/hosts/{host}/events`,
    from: 'agent',
    qos: 1,
    retained: false,
    schema: HostEvent,
    notes:
      'Audit records and warnings. Kept in a bounded queue while the broker is unreachable and replayed in order on reconnect; receivers drop events whose `seq` they have already applied.',
  },
  {
    name: 'Command',
    topic: `${ROOT}/cmd/{host}/{command}`,
    from: 'controller',
    qos: 1,
    retained: false,
    schema: Command,
    notes:
      'Agents subscribe with a persistent session (clean=false), so commands sent during a short disconnection are delivered when they come back. Built-in commands: deploy, start, stop, reboot, reset, suspend, resume, delete.',
  },
  {
    name: 'Command reply',
    topic: `${ROOT}/hosts/{host}/replies/{id}`,
    from: 'agent',
    qos: 1,
    retained: false,
    schema: CommandReply,
    notes:
      'Zero or more "progress" replies, then one "result" with `ok` and `result`, or `error` (a typed status: code STRATUS_ERR_*, message, HTTP status, details).',
  },
];
