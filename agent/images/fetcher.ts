// Downloads one image into a temporary file in the cache directory, streaming: the received bytes are
// hashed with every declared digest, decompressed on the fly (.gz, .xz) and, for an OVA, unpacked so
// that only the disk the OVF names is written. An interrupted transfer is resumed with HTTP Range into
// the same hashes and decompressor, so a resumed download costs no re-read. The caller verifies,
// inspects and commits the file (or removes it).

import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Transform, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type Compression, decompressor } from '../../drivers/decompress.ts';
import { HttpFetchError, httpGet } from '../../drivers/http-fetch.ts';
import { fileWriter } from '../../drivers/image-files.ts';
import { ChecksumMismatchError } from './errors.ts';
import { readBundle } from './ova.ts';
import type { OvfDisk } from './ovf.ts';
import { redactUrls } from '../../common/redact.ts';

export type DigestAlgorithm = 'sha256' | 'sha512' | 'sha1' | 'md5';
export type Digests = { sha256: string } & Partial<Record<DigestAlgorithm, string>>;

export interface Progress {
  url: string;
  receivedBytes: number;
  totalBytes: number | undefined;
  resumes: number;
  startedAt: number;
}

export interface FetchOptions {
  url: string;
  digests: Digests;
  /** Temporary file the disk is written to. */
  dest: string;
  idleTimeoutMs: number;
  /** How many times an interrupted transfer is resumed. */
  retries: number;
  /** Called once, before the first byte is written, with the size when the server says it. */
  beforeWrite?: (totalBytes: number | undefined, transformed: boolean) => Promise<void>;
  onProgress?: (p: Progress) => void;
  log: Logger;
}

export interface FetchResult {
  receivedBytes: number;
  writtenBytes: number;
  /** sha256 of the file written (the declared sha256 unless the download was transformed). */
  diskSha256: string;
  transformed: boolean;
  /** The OVF disk, for an OVA. */
  ovf: OvfDisk | undefined;
}

/** How a URL is packaged: compression by suffix, then an OVA bundle by suffix. */
export function packagingOf(url: string): { compression: Compression | undefined; ova: boolean } {
  let path = new URL(url).pathname.toLowerCase();
  let compression: Compression | undefined;
  if (path.endsWith('.gz')) compression = 'gzip';
  else if (path.endsWith('.xz')) compression = 'xz';
  if (compression) path = path.slice(0, path.lastIndexOf('.'));
  return { compression, ova: path.endsWith('.ova') };
}

interface Sink {
  input: Writable;
  file: Writable;
  done: Promise<{ written: number; sha256: string | undefined; ovf: OvfDisk | undefined }>;
}

function counting(hash: Hash, count: { n: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      count.n += chunk.length;
      cb(null, chunk);
    },
  });
}

function makeSink(dest: string, compression: Compression | undefined, ova: boolean): Sink {
  const file = fileWriter(dest);
  if (!compression && !ova) {
    return {
      input: file,
      file,
      done: finished(file).then(() => ({ written: file.bytesWritten, sha256: undefined, ovf: undefined })),
    };
  }
  const hash = createHash('sha256');
  const count = { n: 0 };
  const input = compression ? decompressor(compression) : new PassThrough();
  const done = ova
    ? readBundle(input, async (disk, ovf) => {
        await pipeline(disk, counting(hash, count), file);
        return ovf;
      }).then((b) => b.result)
    : pipeline(input, counting(hash, count), file).then(() => undefined);
  return {
    input,
    file,
    done: done.then((ovf) => ({ written: count.n, sha256: hash.digest('hex'), ovf })),
  };
}

export async function fetchImage(o: FetchOptions): Promise<FetchResult> {
  const { compression, ova } = packagingOf(o.url);
  const transformed = !!compression || ova;
  const algorithms = (Object.keys(o.digests) as DigestAlgorithm[]).filter((a) => o.digests[a]);
  const hashes = algorithms.map((a) => createHash(a));
  const progress: Progress = {
    url: redactUrls(o.url),
    receivedBytes: 0,
    totalBytes: undefined,
    resumes: 0,
    startedAt: Date.now(),
  };
  let sink: Sink | undefined;
  let sinkError: Error | undefined;
  let validator: string | undefined;
  let lastReport = 0;
  try {
    for (let attempt = 0; ; attempt++) {
      let res: Awaited<ReturnType<typeof httpGet>>;
      try {
        res = await httpGet(o.url, { offset: progress.receivedBytes, validator, idleTimeoutMs: o.idleTimeoutMs });
      } catch (err) {
        if (attempt < o.retries && (err as HttpFetchError).details?.['transient'] === true) {
          await sleep(Math.min(5000, 200 * 2 ** attempt));
          continue;
        }
        throw err;
      }
      if (res.offset !== progress.receivedBytes) {
        res.body.destroy();
        throw new HttpFetchError(
          o.url,
          `the server did not resume at byte ${progress.receivedBytes} (no Range support)`,
        );
      }
      validator ??= res.validator;
      progress.totalBytes ??= res.totalLength;
      if (!sink) {
        await o.beforeWrite?.(progress.totalBytes, transformed);
        sink = makeSink(o.dest, compression, ova);
        // listeners run as the error is emitted, before any promise reacts to it: a disk error is
        // never mistaken for a network one
        const fail = (err: Error) => {
          sinkError ??= err;
        };
        sink.file.on('error', fail);
        sink.input.on('error', fail);
        sink.done.catch(fail);
      }
      const input = sink.input;
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          if (sinkError) throw sinkError;
          for (const h of hashes) h.update(chunk);
          progress.receivedBytes += chunk.length;
          if (!input.write(chunk)) {
            await Promise.race([
              once(input, 'drain'),
              sink.done.then(
                () => undefined,
                () => undefined,
              ),
            ]);
          }
          if (o.onProgress && Date.now() - lastReport > 250) {
            lastReport = Date.now();
            o.onProgress({ ...progress });
          }
        }
        if (progress.totalBytes !== undefined && progress.receivedBytes < progress.totalBytes) {
          throw new Error(`connection closed after ${progress.receivedBytes} of ${progress.totalBytes} bytes`);
        }
        break;
      } catch (err) {
        res.body.destroy();
        if (sinkError) throw sinkError;
        if (err === sinkError) throw err;
        if (attempt >= o.retries || !res.acceptsRanges) {
          throw new HttpFetchError(
            o.url,
            `transfer interrupted after ${progress.receivedBytes} bytes: ${(err as Error).message}`,
          );
        }
        progress.resumes++;
        o.log.warn(
          {
            url: redactUrls(o.url),
            receivedBytes: progress.receivedBytes,
            totalBytes: progress.totalBytes,
            err: (err as Error).message,
          },
          'download interrupted; resuming with Range',
        );
      }
    }
    algorithms.forEach((a, i) => {
      const actual = hashes[i]!.digest('hex');
      if (actual !== o.digests[a]!.toLowerCase())
        throw new ChecksumMismatchError(redactUrls(o.url), a, o.digests[a]!, actual);
    });
    sink.input.end();
    const out = await sink.done;
    o.onProgress?.({ ...progress });
    return {
      receivedBytes: progress.receivedBytes,
      writtenBytes: out.written,
      diskSha256: out.sha256 ?? o.digests.sha256.toLowerCase(),
      transformed,
      ovf: out.ovf,
    };
  } catch (err) {
    // a disk error is the cause when there was one; the teardown below adds errors of its own
    const cause = sinkError && !(err instanceof ChecksumMismatchError) ? sinkError : err;
    if (sink && !sink.input.destroyed) sink.input.destroy();
    await sink?.done.catch(() => undefined);
    throw cause;
  }
}
