// What the scheduler sees: hosts with their capacity and live load, VMs with their requirements, and
// the site's policy. Plain data, so the scheduler is a pure function that is easy to test and bench.

export interface HostView {
  id: string;
  up: boolean;
  enabled: boolean;
  cluster: string;
  arch: string;
  features: readonly string[];
  cpus: number;
  memoryMiB: number;
  /** vCPUs and memory already committed to VMs placed on the host. */
  usedVcpus: number;
  usedMemoryMiB: number;
  /**
   * Bytes VM disks may take on the host: the free space of the file system of its instance directory
   * plus what the instance disks there already take. Undefined when the agent does not report it
   * (the disk filter then lets the host pass).
   */
  diskBytes?: number | undefined;
  /** Virtual sizes of the writable disks (root, volatile, swap) of the VMs placed on the host. */
  usedDiskBytes?: number | undefined;
  /** Live CPU load from metrics, 0..1 (0 when unknown). */
  load: number;
  /** sha256 of the images already in the host's cache. */
  cachedImages: ReadonlySet<string>;
  /** Anti-affinity groups of the VMs already on the host. */
  groups: ReadonlySet<string>;
}

export interface VmRequest {
  id: string;
  vcpus: number;
  memoryMiB: number;
  cluster?: string | undefined;
  arch?: string | undefined;
  requiredFeatures?: readonly string[] | undefined;
  antiAffinityGroup?: string | undefined;
  imageSha256?: string | undefined;
  /** Virtual sizes of its writable disks: root (`--disk` or the image's size), volatile and swap disks. */
  diskBytes?: number | undefined;
  /** Hosts this VM already failed on: not tried again. */
  excludeHosts?: ReadonlySet<string> | undefined;
}

export type RankPolicy = 'packing' | 'striping' | 'load-aware';

export interface SchedulerPolicy {
  rank: RankPolicy;
  cpuOvercommit: number;
  memoryOvercommit: number;
  /** Score bonus (0..1 scale) for a host that already caches the VM's image. */
  imageCacheBonus: number;
}

export const DEFAULT_POLICY: SchedulerPolicy = {
  rank: 'packing',
  cpuOvercommit: 4,
  memoryOvercommit: 1,
  imageCacheBonus: 0.25,
};

export type Placement = { vmId: string; hostId: string } | { vmId: string; hostId: null; reason: string };
