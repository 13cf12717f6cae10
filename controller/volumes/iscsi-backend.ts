// The `iscsi` backend: one tgtd target per volume (<prefix>:volume-<uuid>), LUN 1 backed by a sparse
// file or, when a volume group is configured, by an LVM logical volume; one incoming CHAP account per
// volume; an ACL that names only the initiators of the hosts whose VMs use the volume (none while it is
// available, so nobody can even discover it). tgtd keeps targets in memory only: `restore` makes tgtd
// hold exactly what the database says, and is run at start and whenever tgtd comes back.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { KeyedMutex } from '../../common/keyed-mutex.ts';
import { withReverter } from '../../common/reverter.ts';
import { ensureDir, removeFile } from '../../drivers/host-fs.ts';
import { createLv, removeLv } from '../../drivers/lvm.ts';
import { create as createImage } from '../../drivers/qemu-img.ts';
import type { Tgtadm, TgtTarget } from '../../drivers/tgtadm.ts';
import type { VolumeAttachment } from '../../protocol/volume.ts';
import { GIB, type ProvisionRequest, type Provisioned, type VolumeBackend } from './backend.ts';
import type { VolumeRecord } from './store.ts';
import { withinBackingStore } from './errors.ts';

export interface IscsiBackendOptions {
  tgt: Tgtadm;
  log: Logger;
  portal: string;
  iqnPrefix: string;
  backingDir: string;
  volumeGroup: string;
}

export interface RestoreReport {
  created: number;
  repaired: number;
  removed: number;
  failed: { volumeId: string; error: string }[];
}

export interface WantedTarget {
  volume: VolumeRecord;
  initiators: string[];
}

const LUN = 1;
/**
 * Negotiation limits offered by each target. tgtd's defaults (8 KiB data segments, 64/256 KiB bursts)
 * cut writes into many small PDUs; these double sequential write throughput through QEMU's initiator
 * (bench/volumes). The initiator still negotiates down to what it supports.
 */
const TARGET_PARAMS: [string, number][] = [
  ['MaxRecvDataSegmentLength', 262_144],
  ['MaxXmitDataSegmentLength', 262_144],
  ['FirstBurstLength', 262_144],
  ['MaxBurstLength', 1_048_576],
];
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A CHAP secret of 20 base62 characters (~119 bits; RFC 7143 asks for at least 96). */
export function newChapSecret(): string {
  const bytes = randomBytes(40);
  let s = '';
  for (const b of bytes) {
    if (b < 248) s += ALPHABET[b % 62];
    if (s.length === 20) break;
  }
  return s.length === 20 ? s : newChapSecret();
}

const isInitiatorName = (acl: string) => /^(iqn|eui|naa)\./.test(acl);

export class IscsiBackend implements VolumeBackend {
  readonly name = 'iscsi' as const;
  /** tgtd changes are serialised: target ids are picked from what tgtd holds. */
  private readonly lock = new KeyedMutex();

  constructor(private readonly o: IscsiBackendOptions) {}

  iqnOf(id: string): string {
    return `${this.o.iqnPrefix}:volume-${id}`;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run('tgtd', fn);
  }

  plan(req: ProvisionRequest): Provisioned {
    return {
      location: this.o.volumeGroup
        ? `/dev/${this.o.volumeGroup}/volume-${req.id}`
        : join(this.o.backingDir, `volume-${req.id}.raw`),
      iqn: this.iqnOf(req.id),
      chapUser: `stratus-${req.id}`,
      chapSecret: newChapSecret(),
    };
  }

  async provision(req: ProvisionRequest, plan: Provisioned): Promise<void> {
    await withReverter(async (r) => {
      if (this.o.volumeGroup) {
        r.add('remove logical volume', () => removeLv(this.o.volumeGroup, `volume-${req.id}`));
        await createLv(this.o.volumeGroup, `volume-${req.id}`, req.sizeGiB * GIB);
      } else {
        await ensureDir(this.o.backingDir);
        r.add('remove backing file', () => removeFile(plan.location));
        await withinBackingStore(req.sizeGiB, () => createImage(plan.location, 'raw', req.sizeGiB * GIB));
      }
      // registered first: a target left half-made (no LUN, no account) is removed too
      r.add('remove target', () => this.exclusive(() => this.removeTarget(plan.iqn!, plan.chapUser)));
      await this.exclusive(() => this.ensureTarget({ id: req.id, readonly: req.readonly, ...plan }, [], undefined));
    });
  }

  setAccess(v: VolumeRecord, initiators: string[]): Promise<void> {
    return this.exclusive(async () => {
      await this.ensureTarget(v, initiators, undefined);
    });
  }

  async destroy(v: VolumeRecord): Promise<void> {
    if (v.iqn) await this.exclusive(() => this.removeTarget(v.iqn!, v.chapUser));
    if (this.o.volumeGroup && v.location.startsWith('/dev/')) await removeLv(this.o.volumeGroup, `volume-${v.id}`);
    else if (v.location) await removeFile(v.location);
  }

  source(v: VolumeRecord): VolumeAttachment['source'] {
    return {
      type: 'iscsi',
      portal: this.o.portal,
      iqn: v.iqn!,
      lun: LUN,
      chap: { username: v.chapUser!, secret: v.chapSecret! },
    };
  }

  /**
   * Makes tgtd hold exactly the wanted targets of this backend (same prefix): missing ones are created,
   * drifted ones repaired (LUN, CHAP binding, ACL), and targets under the prefix whose name is not in
   * `known` (every target name in the database, whatever its volume's state) are removed. One failing
   * volume does not stop the others.
   */
  restore(wanted: WantedTarget[], known: ReadonlySet<string>): Promise<RestoreReport> {
    return this.exclusive(async () => {
      const report: RestoreReport = { created: 0, repaired: 0, removed: 0, failed: [] };
      const existing = await this.o.tgt.targets();
      for (const w of wanted) {
        try {
          const outcome = await this.ensureTarget(w.volume, w.initiators, existing);
          if (outcome === 'created') report.created++;
          else if (outcome === 'repaired') report.repaired++;
        } catch (err) {
          report.failed.push({ volumeId: w.volume.id, error: (err as Error).message });
        }
      }
      for (const t of existing) {
        if (!t.iqn.startsWith(`${this.o.iqnPrefix}:volume-`) || known.has(t.iqn)) continue;
        await this.o.tgt.deleteTarget(t.tid, true);
        for (const user of t.accounts) if (user.startsWith('stratus-')) await this.o.tgt.deleteAccount(user);
        this.o.log.warn({ iqn: t.iqn, tid: t.tid }, 'removed a tgtd target that no volume owns');
        report.removed++;
      }
      return report;
    });
  }

  /** Must run under the lock. `known` avoids listing tgtd again during a restore. */
  private async ensureTarget(
    v: Pick<VolumeRecord, 'id' | 'readonly' | 'location' | 'iqn' | 'chapUser' | 'chapSecret'>,
    initiators: string[],
    known: TgtTarget[] | undefined,
  ): Promise<'created' | 'repaired' | 'unchanged'> {
    const tgt = this.o.tgt;
    const iqn = v.iqn!;
    const all = known ?? (await tgt.targets());
    let t = all.find((x) => x.iqn === iqn);
    let outcome: 'created' | 'repaired' | 'unchanged' = 'unchanged';
    if (!t) {
      const tid = all.reduce((m, x) => Math.max(m, x.tid), 0) + 1;
      await tgt.newTarget(tid, iqn);
      for (const [name, value] of TARGET_PARAMS) await tgt.setTargetParam(tid, name, value);
      t = { tid, iqn, luns: [], accounts: [], acl: [], sessions: [] };
      all.push(t);
      outcome = 'created';
    }
    if (!t.luns.some((l) => l.lun === LUN)) {
      await tgt.newLun(t.tid, LUN, v.location, { readonly: v.readonly });
      t.luns.push({ lun: LUN, type: 'disk', path: v.location, readonly: v.readonly, sizeMb: 0 });
      if (outcome === 'unchanged') outcome = 'repaired';
    }
    if (v.chapUser && !t.accounts.includes(v.chapUser)) {
      await tgt.newAccount(v.chapUser, v.chapSecret!);
      await tgt.bindAccount(t.tid, v.chapUser);
      t.accounts.push(v.chapUser);
      if (outcome === 'unchanged') outcome = 'repaired';
    }
    const want = new Set(initiators);
    for (const acl of [...t.acl]) {
      if (want.has(acl)) continue;
      // anything else (another initiator, an address rule, ALL) must not reach this volume
      if (isInitiatorName(acl)) await tgt.unbindInitiator(t.tid, acl);
      else await tgt.unbindAddress(t.tid, acl);
      t.acl.splice(t.acl.indexOf(acl), 1);
      if (outcome === 'unchanged') outcome = 'repaired';
    }
    for (const name of want) {
      if (t.acl.includes(name)) continue;
      await tgt.bindInitiator(t.tid, name);
      t.acl.push(name);
    }
    if (outcome === 'created') this.o.log.info({ iqn, tid: t.tid, initiators }, 'tgtd target created');
    return outcome;
  }

  private async removeTarget(iqn: string, chapUser: string | null): Promise<void> {
    const t = (await this.o.tgt.targets()).find((x) => x.iqn === iqn);
    if (t) await this.o.tgt.deleteTarget(t.tid, true);
    if (chapUser) await this.o.tgt.deleteAccount(chapUser);
  }
}
