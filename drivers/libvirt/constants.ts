// libvirt enum values used by the driver (from libvirt-domain.h / libvirt-host.h, stable ABI).

export const DomainState = {
  0: 'nostate',
  1: 'running',
  2: 'blocked',
  3: 'paused',
  4: 'shutdown',
  5: 'shutoff',
  6: 'crashed',
  7: 'pmsuspended',
} as const;
export type DomainStateName = (typeof DomainState)[keyof typeof DomainState];

export function domainStateName(n: number): DomainStateName {
  return DomainState[n as keyof typeof DomainState] ?? 'nostate';
}

/** virDomainEventType: the lifecycle event kinds. */
export const LifecycleEvent = {
  0: 'defined',
  1: 'undefined',
  2: 'started',
  3: 'suspended',
  4: 'resumed',
  5: 'stopped',
  6: 'shutdown',
  7: 'pmsuspended',
  8: 'crashed',
} as const;
export type LifecycleEventName = (typeof LifecycleEvent)[keyof typeof LifecycleEvent] | 'rebooted';

export const EVENT_ID_LIFECYCLE = 0;
export const EVENT_ID_REBOOT = 1;

export const UNDEFINE_MANAGED_SAVE = 1 << 0;
export const UNDEFINE_SNAPSHOTS_METADATA = 1 << 1;
export const UNDEFINE_NVRAM = 1 << 2;
export const UNDEFINE_CHECKPOINTS_METADATA = 1 << 4;
export const UNDEFINE_TPM = 1 << 5;
/** Everything a deleted instance must not leave behind. */
export const UNDEFINE_ALL =
  UNDEFINE_MANAGED_SAVE | UNDEFINE_SNAPSHOTS_METADATA | UNDEFINE_NVRAM | UNDEFINE_CHECKPOINTS_METADATA;

export const LIST_DOMAINS_ACTIVE = 1 << 0;
export const LIST_DOMAINS_INACTIVE = 1 << 1;

export const STATS_STATE = 1 << 0;
export const STATS_CPU_TOTAL = 1 << 1;
export const STATS_BALLOON = 1 << 2;
export const STATS_VCPU = 1 << 3;
export const STATS_INTERFACE = 1 << 4;
export const STATS_BLOCK = 1 << 5;
/** VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT: a domain busy with a job (a start) reports only what needs none. */
export const STATS_NOWAIT = 1 << 29;
export const STATS_DEFAULT = STATS_STATE | STATS_CPU_TOTAL | STATS_BALLOON | STATS_VCPU | STATS_INTERFACE | STATS_BLOCK;

export const DOMAIN_XML_SECURE = 1 << 0;
export const DOMAIN_XML_INACTIVE = 1 << 1;
/** The XML as a migration sends it (default devices and CPU details the destination adds itself removed). */
export const DOMAIN_XML_MIGRATABLE = 1 << 3;

/** virDomainDeviceModifyFlags: apply a device change to the running domain and/or its definition. */
export const DEVICE_AFFECT_LIVE = 1 << 0;
export const DEVICE_AFFECT_CONFIG = 1 << 1;

/** virSecretUsageType */
export const SECRET_USAGE_VOLUME = 1;
export const SECRET_USAGE_CEPH = 2;
export const SECRET_USAGE_ISCSI = 3;

/** virConnectCloseReason */
export const CloseReason = { 0: 'error', 1: 'eof', 2: 'keepalive', 3: 'client' } as const;

/** virErrorNumber values the driver treats specially. */
export const ERR_NO_DOMAIN = 42;
export const ERR_OPERATION_INVALID = 55;
export const ERR_NO_CONNECT = 5;
export const ERR_SYSTEM_ERROR = 38;
export const ERR_RPC = 39;
export const ERR_NO_SECRET = 66;
/** Errors that mean the request itself (XML, configuration) is wrong: reported as 422, not 502. */
export const ERR_BAD_CONFIG = new Set([8, 27, 35, 67]);
