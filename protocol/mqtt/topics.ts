// MQTT topic names of protocol v1 (MQTT 3.1.1: runs on aedes, mosquitto and EMQX). Everything a host
// publishes lives under `stratus/v1/hosts/<host>/`; commands to a host live under `stratus/v1/cmd/<host>/`,
// which only the controller may write. This split is what the generated broker ACL relies on.

import { Type } from '@sinclair/typebox';

export const PROTOCOL_VERSION = 1;
export const ROOT = `stratus/v${PROTOCOL_VERSION}`;

/** A host id is one topic level: no '/', '+', '#', no control characters, at most 64 characters. */
export const HostId = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: 'Host identity (the agent host_id): letters, digits, ".", "-" and "_"',
  errorMessage: 'must be 1-64 letters, digits, ".", "-" or "_", starting with a letter or digit',
});
const HOST_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isHostId(s: string): boolean {
  return HOST_ID_RE.test(s);
}

export const topics = {
  hostPrefix: (host: string) => `${ROOT}/hosts/${host}`,
  hostStatus: (host: string) => `${ROOT}/hosts/${host}/status`,
  hostInfo: (host: string) => `${ROOT}/hosts/${host}/info`,
  hostMetrics: (host: string) => `${ROOT}/hosts/${host}/metrics`,
  hostEvents: (host: string) => `${ROOT}/hosts/${host}/events`,
  hostInventory: (host: string) => `${ROOT}/hosts/${host}/inventory`,
  vmMetrics: (host: string) => `${ROOT}/hosts/${host}/vm-metrics`,
  vmState: (host: string, vm: string) => `${ROOT}/hosts/${host}/vms/${vm}/state`,
  reply: (host: string, id: string) => `${ROOT}/hosts/${host}/replies/${id}`,
  command: (host: string, name: string) => `${ROOT}/cmd/${host}/${name}`,
  cmdPrefix: (host: string) => `${ROOT}/cmd/${host}`,
} as const;

/** Subscription filters used by the controller, the dashboard and the agents. */
export const filters = {
  allHosts: `${ROOT}/hosts/#`,
  allReplies: `${ROOT}/hosts/+/replies/+`,
  hostCommands: (host: string) => `${ROOT}/cmd/${host}/+`,
} as const;

export type TopicKind =
  | 'status'
  | 'info'
  | 'metrics'
  | 'events'
  | 'inventory'
  | 'vm-metrics'
  | 'vm-state'
  | 'reply'
  | 'command';

export interface ParsedTopic {
  kind: TopicKind;
  host: string;
  /** VM id (vm-state), correlation id (reply) or command name (command). */
  id?: string;
}

/** Parses a protocol topic; undefined for anything else (foreign topics are ignored, never fatal). */
export function parseTopic(topic: string): ParsedTopic | undefined {
  const p = topic.split('/');
  if (p[0] !== 'stratus' || p[1] !== `v${PROTOCOL_VERSION}`) return undefined;
  const host = p[3];
  if (!host || !isHostId(host)) return undefined;
  if (p[2] === 'cmd' && p.length === 5 && p[4]) return { kind: 'command', host, id: p[4] };
  if (p[2] !== 'hosts') return undefined;
  if (p.length === 5) {
    const k = p[4];
    if (
      k === 'status' ||
      k === 'info' ||
      k === 'metrics' ||
      k === 'events' ||
      k === 'inventory' ||
      k === 'vm-metrics'
    ) {
      return { kind: k, host };
    }
    return undefined;
  }
  if (p.length === 7 && p[4] === 'vms' && p[6] === 'state' && p[5]) return { kind: 'vm-state', host, id: p[5] };
  if (p.length === 6 && p[4] === 'replies' && p[5]) return { kind: 'reply', host, id: p[5] };
  return undefined;
}

/** Whether `topic` matches the subscription `filter` (MQTT wildcards + and #). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
