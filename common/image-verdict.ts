// The rules every image must pass before Stratus uses it, shared by the controller (uploads and
// registrations are inspected at the door) and the agent (every image is inspected again before use):
// a known format, the declared format, no backing file, no external data file, no encryption, a sane
// virtual size, not marked corrupt. Pure: the facts come from `qemu-img info` (drivers/qemu-img.ts).

export interface ImageFacts {
  format: string;
  virtualSize: number;
  backingFile: string | undefined;
  dataFile: string | undefined;
  encrypted: boolean;
  corrupt: boolean;
}

export interface VerdictOptions {
  /** Formats accepted at all. */
  formats: ReadonlySet<string>;
  /** The format the image must have, when its publisher or uploader says it. */
  expectedFormat?: string | undefined;
  maxVirtualSize: number;
}

export interface Refusal {
  reason: string;
  details: Record<string, unknown>;
}

/** Why the image must be refused, or undefined when it may be used. */
export function imageVerdict(i: ImageFacts, o: VerdictOptions): Refusal | undefined {
  if (!o.formats.has(i.format))
    return { reason: `unsupported image format ${i.format}`, details: { format: i.format } };
  if (o.expectedFormat && o.expectedFormat !== i.format) {
    return {
      reason: `declared as ${o.expectedFormat} but its content is ${i.format}`,
      details: { declared: o.expectedFormat, format: i.format },
    };
  }
  if (i.backingFile) {
    return {
      reason: `it has a backing file (${i.backingFile}); images must be standalone`,
      details: { backingFile: i.backingFile },
    };
  }
  if (i.dataFile) {
    return {
      reason: `it has an external data file (${i.dataFile}); images must be standalone`,
      details: { dataFile: i.dataFile },
    };
  }
  if (i.encrypted) return { reason: 'it is encrypted', details: {} };
  if (!Number.isFinite(i.virtualSize) || i.virtualSize <= 0)
    return { reason: 'it has no valid virtual size', details: {} };
  if (i.virtualSize > o.maxVirtualSize) {
    return {
      reason: `its virtual size ${i.virtualSize} bytes exceeds the limit of ${o.maxVirtualSize} bytes`,
      details: { virtualSize: i.virtualSize, maxVirtualSize: o.maxVirtualSize },
    };
  }
  if (i.corrupt) return { reason: 'the qcow2 image is marked corrupt', details: {} };
  return undefined;
}
