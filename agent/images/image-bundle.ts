// Image bundles: export streams a cached image as a tar (tar-stream) holding an OVF descriptor, a
// metadata JSON and the disk; import reads such a bundle (or any OVA whose OVF names its disk) as a
// stream, hashes the disk while writing it, verifies it against the metadata's sha256, inspects it
// and adds it to the cache. The policy is checked before the disk is written and again after.

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import tar from 'tar-stream';
import { VERSION } from '../../common/version.ts';
import { createReadStream, fileWriter } from '../../drivers/image-files.ts';
import type { ImageView } from '../../protocol/image.ts';
import type { ImageCache } from './cache.ts';
import { ChecksumMismatchError, DiskFullError, isDiskFull } from './errors.ts';
import { type BundleMetadata, METADATA_FILE, readBundle } from './ova.ts';
import { buildOvf } from './ovf.ts';
import type { Actor, ImagePolicy } from './policy.ts';

export interface ImageBundlesOptions {
  cache: ImageCache;
  policy: ImagePolicy;
  log: Logger;
}

async function writeAll(src: AsyncIterable<Buffer>, dst: Writable): Promise<void> {
  for await (const chunk of src) if (!dst.write(chunk)) await once(dst, 'drain');
}

export class ImageBundles {
  constructor(private readonly o: ImageBundlesOptions) {}

  /** Streams the bundle of a cached image into `out`. */
  async export(sha256: string, out: Writable): Promise<void> {
    const img = this.o.cache.get(sha256);
    const href = `disk.${img.format === 'qcow2' ? 'qcow2' : 'img'}`;
    const name = img.name ?? `image-${img.sha256.slice(0, 12)}`;
    const meta: BundleMetadata = {
      sha256: img.sha256,
      format: img.format,
      virtualSize: img.virtualSize,
      sizeBytes: img.sizeBytes,
      name: img.name,
      endorser: img.endorser,
      sourceUrl: img.sourceUrl,
      sourceSha256: img.sourceSha256,
      origin: img.origin,
      exportedAt: new Date().toISOString(),
      exportedBy: `stratus-agent ${VERSION}`,
    };
    const pack = tar.pack();
    const produce = (async () => {
      const ovf = buildOvf({ name, href, format: img.format, capacity: img.virtualSize, size: img.sizeBytes });
      pack.entry({ name: `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.ovf` }, ovf);
      pack.entry({ name: METADATA_FILE }, `${JSON.stringify(meta, null, 2)}\n`);
      // tar-stream's entries are streamx streams: used through node's Writable interface
      const entry = pack.entry({ name: href, size: img.sizeBytes }) as unknown as Writable;
      const done = new Promise<void>((resolve, reject) => {
        entry.once('finish', resolve);
        entry.once('error', reject);
      });
      await writeAll(createReadStream(this.o.cache.path(img.sha256), { highWaterMark: 1 << 20 }), entry);
      entry.end();
      await done;
      pack.finalize();
    })();
    produce.catch((err: Error) => pack.destroy(err));
    await writeAll(pack as unknown as AsyncIterable<Buffer>, out);
    await produce;
    out.end();
  }

  /** Reads a bundle from `input` into the cache; resolves with the image (same sha256 as exported). */
  async import(input: Readable, who: Actor, opts: { endorser?: string | undefined } = {}): Promise<ImageView> {
    const tmp = this.o.cache.tmpPath('import');
    const log = this.o.log.child({ actor: who.actor });
    try {
      const {
        ovf,
        meta,
        result: sha256,
      } = await readBundle(input, async (disk, _ovf, meta) => {
        // checked before the disk is written, on what the bundle says it holds
        if (meta?.sha256) {
          this.o.policy.enforce({ sha256: meta.sha256, endorser: opts.endorser ?? meta.endorser }, 'import', who);
        }
        const hash = createHash('sha256');
        const file = fileWriter(tmp);
        const written = new Promise<void>((resolve, reject) => {
          file.once('finish', resolve);
          file.once('error', reject);
        });
        for await (const chunk of disk) {
          hash.update(chunk);
          if (!file.write(chunk)) await Promise.race([once(file, 'drain'), written]);
        }
        file.end();
        await written;
        return hash.digest('hex');
      });
      if (meta?.sha256 && meta.sha256 !== sha256) {
        throw new ChecksumMismatchError('the imported bundle', 'sha256', meta.sha256, sha256);
      }
      const endorser = opts.endorser ?? (typeof meta?.endorser === 'string' ? meta.endorser : null);
      this.o.policy.enforce({ sha256, endorser }, 'import', who);
      const img = await this.o.cache.admit(tmp, {
        sha256,
        expectedFormat: ovf.format,
        allowConvertible: true,
        meta: {
          origin: 'import',
          name: typeof meta?.name === 'string' ? meta.name : null,
          endorser,
          sourceUrl: typeof meta?.sourceUrl === 'string' ? meta.sourceUrl : null,
          sourceSha256: null,
        },
      });
      log.info({ sha256: img.sha256 }, 'image imported');
      return this.o.cache.view(img);
    } catch (err) {
      await this.o.cache.discard(tmp);
      if (isDiskFull(err)) throw new DiskFullError(this.o.cache.dir, 'the imported image');
      throw err;
    }
  }
}
