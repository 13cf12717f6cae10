// Reading OVA-style tar bundles (tar-stream) as a stream: the OVF descriptor (first, by the OVA
// convention), an optional Stratus metadata.json, and the disk the descriptor names, handed to the
// caller as a stream so that it is hashed and written without being held in memory.

import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { ValidationError } from '../../common/errors.ts';
import { OVF_MAX_BYTES, type OvfDisk, parseOvf } from './ovf.ts';

export const METADATA_FILE = 'metadata.json';

export interface BundleMetadata {
  sha256?: string;
  format?: string;
  virtualSize?: number;
  name?: string | null;
  endorser?: string | null;
  sourceUrl?: string | null;
  [key: string]: unknown;
}

async function readSmall(entry: AsyncIterable<Buffer>, what: string): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const b of entry) {
    n += b.length;
    if (n > OVF_MAX_BYTES) throw new ValidationError(`${what} is larger than ${OVF_MAX_BYTES} bytes`);
    parts.push(b);
  }
  return Buffer.concat(parts).toString('utf8');
}

/**
 * Reads a bundle from `input`; `onDisk` receives the disk entry (a stream it must consume) with the
 * descriptor and whatever metadata came before it. Rejects when the descriptor or the disk is missing.
 */
export async function readBundle<T>(
  input: Readable,
  onDisk: (disk: AsyncIterable<Buffer>, ovf: OvfDisk, meta: BundleMetadata | undefined) => Promise<T>,
): Promise<{ ovf: OvfDisk; meta: BundleMetadata | undefined; result: T }> {
  const extract = tar.extract();
  input.once('error', (err) => extract.destroy(err));
  input.pipe(extract);
  let ovf: OvfDisk | undefined;
  let meta: BundleMetadata | undefined;
  let result: { value: T } | undefined;
  try {
    for await (const entry of extract) {
      const name = entry.header.name.replace(/^\.\//, '');
      if (entry.header.type !== 'file') {
        entry.resume();
      } else if (!ovf) {
        if (!name.endsWith('.ovf'))
          throw new ValidationError(`the bundle must start with its .ovf descriptor, not ${name}`);
        ovf = parseOvf(await readSmall(entry as AsyncIterable<Buffer>, 'the OVF descriptor'));
      } else if (name === METADATA_FILE) {
        try {
          meta = JSON.parse(await readSmall(entry as AsyncIterable<Buffer>, METADATA_FILE)) as BundleMetadata;
        } catch (err) {
          throw new ValidationError(`${METADATA_FILE} is not valid JSON: ${(err as Error).message}`);
        }
      } else if (name === ovf.href && !result) {
        result = { value: await onDisk(entry as AsyncIterable<Buffer>, ovf, meta) };
      } else {
        entry.resume();
      }
    }
  } catch (err) {
    input.unpipe(extract);
    input.resume();
    throw err;
  }
  if (!ovf) throw new ValidationError('the bundle has no OVF descriptor');
  if (!result) throw new ValidationError(`the bundle has no disk file ${ovf.href}`);
  return { ovf, meta, result: result.value };
}
