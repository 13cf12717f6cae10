// Content of images uploaded to the controller: streamed to <state_dir>/images/<id> (hashed on the
// way, atomic rename, at most a configured number of bytes) and served to agents by capability URLs.
// A capability URL names the host it was issued for and when it expires; its token is an HMAC (with
// the controller's secret) of the purpose, image, sha256, host and expiry, so a URL cannot be stretched
// in time, moved to another host or turned into another image's URL, and the controller keeps no state
// per URL. Tokens are compared in constant time.

import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { StratusError } from '../../common/errors.ts';
import { secretEquals } from '../../common/secret-compare.ts';
import { ensureDir, removeFile, writeFileAtomicHashed } from '../../drivers/host-fs.ts';

export class ImageChecksumError extends StratusError {
  constructor(expected: string, actual: string) {
    super('STRATUS_ERR_IMAGE_CHECKSUM', `uploaded content has sha256 ${actual}, expected ${expected}`, {
      status: 422,
      details: { expected, actual },
    });
  }
}

export class UploadTooLargeError extends StratusError {
  constructor(limitBytes: number) {
    super('STRATUS_ERR_TOO_LARGE', `image upload refused: larger than the limit of ${limitBytes} bytes`, {
      status: 413,
      details: { limitBytes },
    });
  }
}

export class ImageQuotaExceededError extends StratusError {
  constructor(used: number, asked: number | undefined, limit: number) {
    super(
      'STRATUS_ERR_QUOTA',
      `image quota exceeded: ${used} bytes of images kept${asked === undefined ? ', more' : ` + ${asked}`} uploaded > ${limit} bytes allowed`,
      { status: 403, details: { what: 'imageBytes', used, ...(asked === undefined ? {} : { asked }), limit } },
    );
  }
}

export class CapabilityUrlError extends StratusError {
  constructor(what: string, reason: string) {
    super('STRATUS_ERR_FORBIDDEN', `invalid ${what} URL: ${reason}`, { status: 403, details: { reason } });
  }
}

/** The query of a capability URL: the host it was issued for, its expiry (Unix seconds) and the MAC. */
export interface CapabilityQuery {
  host: string;
  exp: number;
  token: string;
}

export class ImageContent {
  constructor(
    private readonly dir: string,
    private readonly secret: Buffer,
    /** Base URL agents use to reach this controller's API, e.g. http://10.0.0.1:8480 */
    private readonly publicUrl: string,
    /** How long a capability URL is valid, in seconds. */
    private readonly ttlS: number,
    private readonly now: () => number = Date.now,
  ) {}

  path(id: string): string {
    return join(this.dir, id);
  }

  /**
   * Stores the body as the image's content. More than `maxBytes` aborts the transfer (413) and leaves
   * nothing; a declared sha256 that does not match leaves nothing either (422).
   */
  async store(
    id: string,
    body: NodeJS.ReadableStream,
    o: {
      expectedSha256?: string | undefined;
      maxBytes: number;
      /** The error when more than maxBytes arrive (413, or a quota error when the quota is the tighter limit). */
      tooLarge: () => Error;
      onBytes?: (n: number) => void;
    },
  ) {
    await ensureDir(this.dir);
    const res = await writeFileAtomicHashed(this.path(id), body, (n) => {
      if (n > o.maxBytes) throw o.tooLarge();
      o.onBytes?.(n);
    });
    if (o.expectedSha256 && res.sha256 !== o.expectedSha256) {
      await removeFile(this.path(id));
      throw new ImageChecksumError(o.expectedSha256, res.sha256);
    }
    return res;
  }

  remove(id: string): Promise<void> {
    return removeFile(this.path(id));
  }

  private mac(purpose: string, id: string, sha256: string, host: string, exp: number): string {
    return createHmac('sha256', this.secret)
      .update(JSON.stringify([purpose, id, sha256, host, exp]))
      .digest('base64url');
  }

  private issue(purpose: 'download' | 'upload', id: string, sha256: string, host: string): string {
    const exp = Math.floor(this.now() / 1000) + this.ttlS;
    const q = new URLSearchParams({ host, exp: String(exp), token: this.mac(purpose, id, sha256, host, exp) });
    return `${this.publicUrl}/v1/images/${id}/content?${q}`;
  }

  /** Why the URL's query is not a valid capability for this purpose and image, or undefined when it is. */
  private refusal(purpose: string, id: string, sha256: string, q: CapabilityQuery): string | undefined {
    if (!secretEquals(this.mac(purpose, id, sha256, q.host, q.exp), q.token)) return 'wrong token';
    if (q.exp * 1000 <= this.now()) return `expired at ${new Date(q.exp * 1000).toISOString()}`;
    return undefined;
  }

  /** The URL host `host` downloads the image from (valid for the configured TTL). */
  url(id: string, sha256: string, host: string): string {
    return this.issue('download', id, sha256, host);
  }

  /** A one-time upload URL for an image in state `uploading` (save-as: the agent of `host` PUTs the content). */
  uploadUrl(id: string, host: string): string {
    return this.issue('upload', id, 'upload', host);
  }

  /** Throws CapabilityUrlError unless `q` is a valid, unexpired download capability for the image. */
  checkDownload(id: string, sha256: string, q: CapabilityQuery): void {
    const why = this.refusal('download', id, sha256, q);
    if (why) throw new CapabilityUrlError('image content', why);
  }

  /** Throws CapabilityUrlError unless `q` is a valid, unexpired upload capability for the image. */
  checkUpload(id: string, q: CapabilityQuery): void {
    const why = this.refusal('upload', id, 'upload', q);
    if (why) throw new CapabilityUrlError('image upload', why);
  }
}
