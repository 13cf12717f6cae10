// The disks a VM has besides its volumes, from its record: the root overlay (`--disk` or the image's
// size), the volatile disks (`--volatile-disk`), the swap disk of its type, and the read-only images
// (extra-disks.ts), in the order the guest sees them. One place for the spec builder (blank disks in
// the spec), the VM view (`vm show`) and the scheduler (bytes each VM takes on its host's disk).

import type { BlankDiskSpec } from '../../protocol/vm-spec.ts';
import type { VmDiskView } from '../../protocol/vm.ts';
import type { VmRecord } from './store.ts';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** Serials the guest sees (/dev/disk/by-id/virtio-<serial>): stable names for context scripts. */
export const SWAP_SERIAL = 'stratus-swap';
/** How a Linux guest names the swap disk (udev's by-id link of a virtio disk with that serial). */
export const SWAP_DEVICE = `/dev/disk/by-id/virtio-${SWAP_SERIAL}`;
export const volatileSerial = (n: number): string => `stratus-volatile-${n}`;

/** The blank disks of the VM's spec, after its root disk: volatile disks in order, then swap. */
export function blankDisks(vm: Pick<VmRecord, 'volatileGiB' | 'swapMiB'>): BlankDiskSpec[] {
  const out: BlankDiskSpec[] = vm.volatileGiB.map((gib, i) => ({
    blank: 'volatile',
    sizeMiB: gib * 1024,
    serial: volatileSerial(i + 1),
  }));
  if (vm.swapMiB > 0) out.push({ blank: 'swap', sizeMiB: vm.swapMiB, serial: SWAP_SERIAL });
  return out;
}

const device = (i: number): string => `vd${'abcdefghijklmnopqrstuvwxyz'[i] ?? '?'}`;

/** The VM's disks as `vm show` lists them (volumes are listed apart). */
export function diskViews(vm: VmRecord, readonlyImages: readonly string[]): VmDiskView[] {
  const out: VmDiskView[] = [
    { device: device(0), kind: 'root', image: vm.imageId, ...(vm.diskGiB > 0 ? { sizeMiB: vm.diskGiB * 1024 } : {}) },
  ];
  for (const b of blankDisks(vm)) {
    out.push({
      device: device(out.length),
      kind: b.blank,
      sizeMiB: b.sizeMiB,
      ...(b.serial ? { serial: b.serial } : {}),
    });
  }
  for (const image of readonlyImages) out.push({ device: device(out.length), kind: 'readonly', image });
  return out;
}

/**
 * Bytes the VM's writable disks may take on its host (virtual sizes: overlays and blank disks are
 * sparse but may fill up): the root disk (`rootImageBytes` when it keeps the image's size), the
 * volatile disks and the swap disk.
 */
export function diskBytes(vm: Pick<VmRecord, 'diskGiB' | 'volatileGiB' | 'swapMiB'>, rootImageBytes: number): number {
  const root = vm.diskGiB > 0 ? vm.diskGiB * GiB : rootImageBytes;
  return root + vm.volatileGiB.reduce((a, g) => a + g * GiB, 0) + vm.swapMiB * MiB;
}
