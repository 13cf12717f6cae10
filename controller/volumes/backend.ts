// The one interface every volume backend implements (iscsi: tgtd targets; file: images on a shared
// filesystem), so the volume service never knows where the bytes are. Each method is idempotent:
// the service may call it again after a crash or a restart of tgtd.

import type { VolumeAttachment, VolumeBackendName } from '../../protocol/volume.ts';
import type { VolumeRecord } from './store.ts';

export interface ProvisionRequest {
  id: string;
  sizeGiB: number;
  format: 'raw' | 'qcow2';
  readonly: boolean;
}

/** Backend data recorded with the volume. */
export interface Provisioned {
  location: string;
  iqn: string | null;
  chapUser: string | null;
  chapSecret: string | null;
}

export interface VolumeBackend {
  readonly name: VolumeBackendName;
  /** Where the volume will be and how it will be reached (names, credentials): decided before anything is made. */
  plan(req: ProvisionRequest): Provisioned;
  /** Creates the storage and its export (no initiator allowed yet), as planned. All or nothing. */
  provision(req: ProvisionRequest, plan: Provisioned): Promise<void>;
  /** Lets exactly these initiators (iSCSI names) reach the volume; files have no such control. */
  setAccess(v: VolumeRecord, initiators: string[]): Promise<void>;
  /** Removes the export and the storage; nothing left is not an error. */
  destroy(v: VolumeRecord): Promise<void>;
  /** What an agent needs to reach the volume. */
  source(v: VolumeRecord): VolumeAttachment['source'];
}

export const GIB = 1024 ** 3;
