// The site's image registry: images registered by URL with a declared checksum (agents fetch them
// and verify), or uploaded to the controller (stored under <state_dir>/images, hashed on the way in).
// Metadata follows the StratusLab Marketplace: os, arch, endorser, expiry; kernel and ramdisk images
// for direct kernel boot, as OpenStack's kernel_id/ramdisk_id properties.

import { randomUUID } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import { ConflictError, NotFoundError, ValidationError } from '../../common/errors.ts';
import { type Db, migrate } from '../../common/sqlite.ts';

export {
  Image,
  ImageFormat,
  ImageMetadata,
  ImageName,
  RegisterImageRequest,
  UploadImageQuery,
} from '../../protocol/site-image.ts';
import type { Image, RegisterImageRequest, UploadImageQuery } from '../../protocol/site-image.ts';

const MIGRATIONS = [
  `CREATE TABLE images (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     owner_id TEXT NOT NULL,
     owner_name TEXT NOT NULL,
     visibility TEXT NOT NULL,
     state TEXT NOT NULL,
     sha256 TEXT,
     format TEXT NOT NULL,
     size_bytes INTEGER,
     source_url TEXT,
     stored INTEGER NOT NULL DEFAULT 0,
     meta TEXT NOT NULL DEFAULT '{}',
     created_at INTEGER NOT NULL
   )`,
  'ALTER TABLE images ADD COLUMN virtual_size INTEGER',
];

interface Row {
  id: string;
  name: string;
  owner_id: string;
  owner_name: string;
  visibility: string;
  state: Image['state'];
  sha256: string | null;
  format: string;
  size_bytes: number | null;
  source_url: string | null;
  stored: number;
  meta: string;
  created_at: number;
  virtual_size: number | null;
}

type Meta = Pick<Image, 'os' | 'arch' | 'endorser' | 'expiresAt' | 'kernelImage' | 'ramdiskImage' | 'cmdline'>;

export interface ImageRecord extends Image {
  ownerId: string;
}

const toImage = (r: Row): ImageRecord => ({
  id: r.id,
  name: r.name,
  owner: r.owner_name,
  ownerId: r.owner_id,
  visibility: r.visibility,
  state: r.state,
  sha256: r.sha256,
  format: r.format,
  sizeBytes: r.size_bytes,
  sourceUrl: r.source_url,
  stored: r.stored === 1,
  ...(r.virtual_size !== null ? { virtualSize: r.virtual_size } : {}),
  ...(JSON.parse(r.meta) as Meta),
  createdAt: r.created_at,
});

function metaOf(m: Partial<Meta>): Meta {
  const out: Meta = {};
  for (const k of ['os', 'arch', 'endorser', 'expiresAt', 'kernelImage', 'ramdiskImage', 'cmdline'] as const) {
    if (m[k] !== undefined) out[k] = m[k];
  }
  return out;
}

/** Resolves a name that is not an image id or name (e.g. a Marketplace id) to an image, or undefined. */
export type ImageResolver = (
  idOrName: string,
  who: { id: string; role: string; name?: string },
) => ImageRecord | undefined;

export class ImageRegistry {
  constructor(private readonly db: Db) {
    migrate(db, 'images', MIGRATIONS);
  }

  private checkBootImages(m: Partial<Meta>, owner: { id: string; role: string }): void {
    for (const [what, id, fmt] of [
      ['kernelImage', m.kernelImage, 'kernel'],
      ['ramdiskImage', m.ramdiskImage, 'ramdisk'],
    ] as const) {
      if (!id) continue;
      const img = this.find(id);
      if (!img || !this.visibleTo(img, owner)) throw new ValidationError(`${what} ${id} is not an image you can use`);
      if (img.format !== fmt) throw new ValidationError(`${what} ${id} has format ${img.format}, not ${fmt}`);
    }
  }

  register(req: RegisterImageRequest, owner: { id: string; name: string; role: string }): ImageRecord {
    this.checkBootImages(req, owner);
    const id = randomUUID();
    this.db
      .prepare(
        `INSERT INTO images (id, name, owner_id, owner_name, visibility, state, sha256, format, source_url, meta, created_at)
         VALUES (?, ?, ?, ?, ?, 'available', ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        req.name,
        owner.id,
        owner.name,
        req.visibility ?? 'private',
        req.sha256,
        req.format,
        req.url,
        JSON.stringify(metaOf(req)),
        Date.now(),
      );
    return this.get(id);
  }

  /** Starts an upload: the record exists in state `uploading` until finishUpload. */
  beginUpload(q: Static<typeof UploadImageQuery>, owner: { id: string; name: string; role: string }): ImageRecord {
    this.checkBootImages(q, owner);
    const id = randomUUID();
    this.db
      .prepare(
        `INSERT INTO images (id, name, owner_id, owner_name, visibility, state, sha256, format, stored, meta, created_at)
         VALUES (?, ?, ?, ?, ?, 'uploading', NULL, ?, 1, ?, ?)`,
      )
      .run(
        id,
        q.name,
        owner.id,
        owner.name,
        q.visibility ?? 'private',
        q.format,
        JSON.stringify(metaOf(q)),
        Date.now(),
      );
    return this.get(id);
  }

  finishUpload(id: string, sha256: string, size: number, virtualSize?: number): ImageRecord {
    this.db
      .prepare("UPDATE images SET state = 'available', sha256 = ?, size_bytes = ?, virtual_size = ? WHERE id = ?")
      .run(sha256, size, virtualSize ?? null, id);
    return this.get(id);
  }

  /** Records the disk size the image's header declares (the scheduler counts it as the root disk). */
  setVirtualSize(id: string, bytes: number): ImageRecord {
    this.db.prepare('UPDATE images SET virtual_size = ? WHERE id = ?').run(bytes, id);
    return this.get(id);
  }

  /** Adds to an image's Marketplace-style metadata (a saved image gets its endorser and expiry once signed). */
  setMeta(id: string, m: Partial<Meta>): ImageRecord {
    const img = this.get(id);
    const meta = metaOf({ ...metaOf(img), ...m });
    this.db.prepare('UPDATE images SET meta = ? WHERE id = ?').run(JSON.stringify(meta), id);
    return this.get(id);
  }

  /** Bytes of image content the user keeps on the controller (uploads and saved disks). */
  storedBytes(ownerId: string, except?: string): number {
    const r = this.db
      .prepare(
        "SELECT COALESCE(SUM(size_bytes), 0) AS n FROM images WHERE owner_id = ? AND stored = 1 AND state = 'available' AND id != ?",
      )
      .get(ownerId, except ?? '') as { n: number };
    return r.n;
  }

  forget(id: string): void {
    this.db.prepare('DELETE FROM images WHERE id = ?').run(id);
  }

  find(id: string): ImageRecord | undefined {
    const r = this.db.prepare('SELECT * FROM images WHERE id = ?').get(id) as Row | undefined;
    return r && toImage(r);
  }

  get(id: string): ImageRecord {
    const img = this.find(id);
    if (!img) throw new NotFoundError('image', id);
    return img;
  }

  visibleTo(img: ImageRecord, who: { id: string; role: string }): boolean {
    return who.role === 'admin' || img.visibility === 'public' || img.ownerId === who.id;
  }

  /** An image the caller may see, by id or (unique) name; 404 otherwise, never 403 (no probing). */
  resolve(idOrName: string, who: { id: string; role: string }): ImageRecord {
    const byId = this.find(idOrName);
    if (byId && this.visibleTo(byId, who)) return byId;
    const byName = (this.db.prepare('SELECT * FROM images WHERE name = ? ORDER BY created_at').all(idOrName) as Row[])
      .map(toImage)
      .filter((i) => this.visibleTo(i, who));
    if (byName.length === 1) return byName[0]!;
    if (byName.length > 1)
      throw new ConflictError(`several images are named ${idOrName}; use an id`, { ids: byName.map((i) => i.id) });
    for (const r of this.resolvers) {
      const img = r(idOrName, who);
      if (img) return img;
    }
    throw new NotFoundError('image', idOrName);
  }

  private readonly resolvers: ImageResolver[] = [];

  /** Another way to name images (Marketplace ids), tried when no image has that id or name. */
  addResolver(r: ImageResolver): void {
    this.resolvers.push(r);
  }

  list(who: { id: string; role: string }): ImageRecord[] {
    return (this.db.prepare('SELECT * FROM images ORDER BY created_at').all() as Row[])
      .map(toImage)
      .filter((i) => this.visibleTo(i, who));
  }
}
