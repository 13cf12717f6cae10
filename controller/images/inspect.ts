// Hostile images are refused at the door: every upload (and every image registered by URL, when its
// header can be read) is inspected by the controller with `qemu-img info` under CPU and memory limits
// (drivers/qemu-img.ts) against the rules agents apply again before use (common/image-verdict.ts):
// the declared format, no backing file, no external data file, no encryption, a sane virtual size and,
// for qcow2 uploads, a clean `qemu-img check`. A refusal is a 422 naming the reason.

import { StratusError } from '../../common/errors.ts';
import { imageVerdict } from '../../common/image-verdict.ts';
import { check, info } from '../../drivers/qemu-img.ts';

export class ImageRefusedError extends StratusError {
  constructor(name: string, reason: string, details: Record<string, unknown> = {}) {
    super('STRATUS_ERR_IMAGE_REFUSED', `image ${name} refused: ${reason}`, {
      status: 422,
      details: { image: name, reason, ...details },
    });
  }
}

/** The format qemu-img must find for a declared format (kernels and initrds are plain files). */
const CONTENT_FORMAT: Record<string, string> = { qcow2: 'qcow2', raw: 'raw', kernel: 'raw', ramdisk: 'raw' };

export interface InspectOptions {
  /** The image's name, for messages. */
  name: string;
  declaredFormat: string;
  maxVirtualSize: number;
  /** Also run `qemu-img check` on qcow2 content (a local file; not done over HTTP). */
  deep: boolean;
}

/** Inspects a file or an http(s) URL; throws ImageRefusedError, or `unreadable` when qemu-img cannot open it. */
export async function inspectImage(
  location: string,
  o: InspectOptions,
  unreadable: (err: Error) => Error = (err) =>
    new ImageRefusedError(o.name, `qemu-img cannot read it (${err.message})`),
): Promise<{ format: string; virtualSize: number }> {
  let i: Awaited<ReturnType<typeof info>>;
  try {
    i = await info(location);
  } catch (err) {
    throw unreadable(err as Error);
  }
  const expected = CONTENT_FORMAT[o.declaredFormat] ?? o.declaredFormat;
  const refusal = imageVerdict(i, {
    formats: new Set(['qcow2', 'raw']),
    expectedFormat: expected,
    maxVirtualSize: o.maxVirtualSize,
  });
  if (refusal) throw new ImageRefusedError(o.name, refusal.reason, refusal.details);
  if (o.deep && i.format === 'qcow2') {
    const c = await check(location).catch((err: Error) => {
      throw new ImageRefusedError(o.name, `qemu-img check failed (${err.message})`);
    });
    if (c.corruptions > 0 || c.checkErrors > 0)
      throw new ImageRefusedError(o.name, `qemu-img check found ${c.corruptions} corruptions`, { ...c });
  }
  return { format: i.format, virtualSize: i.virtualSize };
}
