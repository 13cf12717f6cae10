// Host attach mode: the host's own initiator (open-iscsi through iscsiadm) logs in to the target and
// the VM gets the session's block device. One session per target and portal, shared by the VMs of this
// host that use the volume; created with its undo (logout, node record removed) so a failed attach
// leaves no session behind (the leak Nova's OSSA-2023-003 was about).

import type { Reverter } from '../../common/reverter.ts';
import { createNode, deleteNode, login, logout, type NodeRef, sessionBlockDevice } from '../../drivers/iscsiadm.ts';
import type { IscsiSource } from '../../protocol/volume.ts';
import { VolumeAttachError } from './errors.ts';

export interface HostSessionOptions {
  loginTimeoutMs: number;
  /** True when another attachment on this host already uses the session (nothing to log in or out). */
  shared: boolean;
}

/** Logs in (unless the session is shared) and returns the LUN's block device; undo steps go to `r`. */
export async function openHostSession(
  ids: { volumeId: string; vmId: string },
  src: IscsiSource,
  r: Reverter,
  o: HostSessionOptions,
): Promise<string> {
  const n: NodeRef = { iqn: src.iqn, portal: src.portal };
  if (!o.shared) {
    r.add('delete the iSCSI node record', () => deleteNode(n));
    await createNode(n, { username: src.chap.username, password: src.chap.secret });
    r.add('log out of the iSCSI session', () => logout(n));
    try {
      await login(n);
    } catch (err) {
      throw new VolumeAttachError(
        ids.volumeId,
        ids.vmId,
        `iSCSI login to ${src.iqn} at ${src.portal} failed: ${(err as Error).message}`,
        'STRATUS_ERR_VOLUME_LOGIN',
        err,
      );
    }
  }
  const end = Date.now() + o.loginTimeoutMs;
  for (;;) {
    const dev = await sessionBlockDevice(n, src.lun);
    if (dev) return dev;
    if (Date.now() > end)
      throw new VolumeAttachError(
        ids.volumeId,
        ids.vmId,
        `LUN ${src.lun} of ${src.iqn} did not appear as a block device`,
      );
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Logs out and forgets the node record, unless other attachments still use the session. */
export async function closeHostSession(n: NodeRef, stillUsed: boolean): Promise<void> {
  if (stillUsed) return;
  await logout(n);
  await deleteNode(n);
}
