// Inspection of every image before it is used, against hostile images: `qemu-img info` (under CPU and
// memory limits) must find a known format, no backing file, no external data file, no encryption, a
// virtual size within the configured limit (the rules of common/image-verdict.ts, which the controller
// applies at upload too) and, for qcow2, a clean `qemu-img check`.

import { imageVerdict } from '../../common/image-verdict.ts';
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
  const formats = new Set(['qcow2', 'raw', ...(o.allowConvertible ? CONVERTIBLE_FORMATS : [])]);
  const refusal = imageVerdict(i, { formats, expectedFormat: o.expectedFormat, maxVirtualSize: o.maxVirtualSize });
  if (refusal) throw new ImageRefusedError(o.id, refusal.reason, refusal.details);
  if (i.format === 'qcow2') {
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
