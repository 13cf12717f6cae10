// Content of images uploaded to the controller: streamed to <state_dir>/images/<id> (hashed on the
// way, atomic rename) and served to agents by capability URLs (an HMAC of the image id and sha256 with
// the controller's secret), so an agent can fetch exactly the images it was given and nothing else.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { StratusError } from '../../common/errors.ts';
import { ensureDir, removeFile, writeFileAtomicHashed } from '../../drivers/host-fs.ts';

export class ImageChecksumError extends StratusError {
  constructor(expected: string, actual: string) {
    super('STRATUS_ERR_IMAGE_CHECKSUM', `uploaded content has sha256 ${actual}, expected ${expected}`, {
      status: 422,
      details: { expected, actual },
    });
  }
}

export class ImageContent {
  constructor(
    private readonly dir: string,
    private readonly secret: Buffer,
    /** Base URL agents use to reach this controller's API, e.g. http://10.0.0.1:8480 */
    private readonly publicUrl: string,
  ) {}

  path(id: string): string {
    return join(this.dir, id);
  }

  async store(id: string, body: NodeJS.ReadableStream, expectedSha256?: string, onBytes?: (n: number) => void) {
    await ensureDir(this.dir);
    const res = await writeFileAtomicHashed(this.path(id), body, onBytes);
    if (expectedSha256 && res.sha256 !== expectedSha256) {
      await removeFile(this.path(id));
      throw new ImageChecksumError(expectedSha256, res.sha256);
    }
    return res;
  }

  remove(id: string): Promise<void> {
    return removeFile(this.path(id));
  }

  token(id: string, sha256: string): string {
    return createHmac('sha256', this.secret).update(`image:${id}:${sha256}`).digest('base64url');
  }

  checkToken(id: string, sha256: string, token: string): boolean {
    const want = Buffer.from(this.token(id, sha256));
    const got = Buffer.from(token);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  /** A one-time upload URL for an image in state `uploading` (save-as: the agent PUTs the content). */
  uploadUrl(id: string): string {
    return `${this.publicUrl}/v1/images/${id}/content?token=${this.token(id, 'upload')}`;
  }

  checkUploadToken(id: string, token: string): boolean {
    return this.checkToken(id, 'upload', token);
  }

  url(id: string, sha256: string): string {
    return `${this.publicUrl}/v1/images/${id}/content?token=${this.token(id, sha256)}`;
  }
}
