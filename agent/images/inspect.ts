// Inspection of every image before it is used, against hostile images: `qemu-img info` (under CPU and
// memory limits) must find a known format, no backing file, no external data file, no encryption, a
// virtual size within the configured limit and, for qcow2, a clean `qemu-img check`.

import { check, info } from '../../drivers/qemu-img.ts';
import type { ImageFormat } from '../../protocol/image.ts';
import { ImageRefusedError } from './errors.ts';

/** Formats qemu-img can read that an OVA may carry: converted to qcow2 on arrival. */
export const CONVERTIBLE_FORMATS = new Set(['vmdk', 'vpc', 'vhdx', 'vdi']);

export interface Inspected {
  format: string;
  virtualSize: number;
}

export interface InspectOptions {
  /** Name for messages: the sha256 the image is known by. */
  id: string;
  /** The format the image must have, when its publisher or descriptor says it. */
  expectedFormat?: string | undefined;
  maxVirtualSize: number;
  /** Accept the convertible formats too (OVA disks). */
  allowConvertible?: boolean;
}

export async function inspectImage(path: string, o: InspectOptions): Promise<Inspected> {
  let i: Awaited<ReturnType<typeof info>>;
  try {
    i = await info(path);
  } catch (err) {
    throw new ImageRefusedError(o.id, `qemu-img cannot read it (${(err as Error).message})`);
  }
  const known = i.format === 'qcow2' || i.format === 'raw' || (o.allowConvertible && CONVERTIBLE_FORMATS.has(i.format));
  if (!known) throw new ImageRefusedError(o.id, `unsupported image format ${i.format}`, { format: i.format });
  if (o.expectedFormat && o.expectedFormat !== i.format) {
    throw new ImageRefusedError(o.id, `declared as ${o.expectedFormat} but its content is ${i.format}`, {
      declared: o.expectedFormat,
      format: i.format,
    });
  }
  if (i.backingFile) {
    throw new ImageRefusedError(o.id, `it has a backing file (${i.backingFile}); images must be standalone`, {
      backingFile: i.backingFile,
    });
  }
  if (i.dataFile) {
    throw new ImageRefusedError(o.id, `it has an external data file (${i.dataFile}); images must be standalone`, {
      dataFile: i.dataFile,
    });
  }
  if (i.encrypted) throw new ImageRefusedError(o.id, 'it is encrypted');
  if (!Number.isFinite(i.virtualSize) || i.virtualSize <= 0) {
    throw new ImageRefusedError(o.id, 'it has no valid virtual size');
  }
  if (i.virtualSize > o.maxVirtualSize) {
    throw new ImageRefusedError(
      o.id,
      `its virtual size ${i.virtualSize} bytes exceeds the limit of ${o.maxVirtualSize} bytes`,
      { virtualSize: i.virtualSize, maxVirtualSize: o.maxVirtualSize },
    );
  }
  if (i.format === 'qcow2') {
    if (i.corrupt) throw new ImageRefusedError(o.id, 'the qcow2 image is marked corrupt');
    const c = await check(path).catch((err: Error) => {
      throw new ImageRefusedError(o.id, `qemu-img check failed (${err.message})`);
    });
    if (c.corruptions > 0 || c.checkErrors > 0) {
      throw new ImageRefusedError(o.id, `qemu-img check found ${c.corruptions} corruptions`, { ...c });
    }
  }
  return { format: i.format, virtualSize: i.virtualSize };
}

export function asImageFormat(f: string): ImageFormat {
  return f === 'raw' ? 'raw' : 'qcow2';
}
