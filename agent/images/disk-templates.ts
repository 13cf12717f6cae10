// Empty qcow2 files made once and copied. A blank disk of a given size, or an overlay of a given base
// (backing path, its format, a virtual size), has the same bytes whatever VM it is for: the agent makes
// each kind once with qemu-img, in a directory of its own, and copies it for each VM (copy_file_range in
// libuv's thread pool) instead of running qemu-img for every disk of every deploy. qemu-img stays the one
// writer of the format; a copy is what it would have written. The directory is emptied when the agent
// starts (an upgraded qemu-img makes new ones) and holds at most `max` templates, the least recently used
// going first. A template appears by rename, so a crash never leaves a partial one.

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { copyFileTo, listDir, makeDir, removePath, renamePath } from '../../drivers/image-files.ts';
import { create as createImage, createOverlay } from '../../drivers/qemu-img.ts';

export interface DiskTemplatesOptions {
  /** Directory of the templates (only theirs: it is emptied at start). */
  dir: string;
  /** Templates kept at most (each is a few hundred KiB); default 64. */
  max?: number;
}

export class DiskTemplates {
  /** Template path by key, in least-recently-used order; a pending entry is a template being made. */
  private readonly made = new Map<string, Promise<string>>();
  private ready: Promise<void> | undefined;
  private seq = 0;

  constructor(private readonly o: DiskTemplatesOptions) {}

  /** A new empty qcow2 image of `sizeBytes` at `path` (replacing any file there), as `qemu-img create`. */
  async blank(path: string, sizeBytes: number): Promise<void> {
    await this.copy(`blank\0${sizeBytes}`, (tmp) => createImage(tmp, 'qcow2', sizeBytes), path);
  }

  /** A new qcow2 overlay of `base` at `path`, as `qemu-img create -F <baseFormat> -b <base> [size]`. */
  async overlay(path: string, base: string, baseFormat: string, sizeBytes?: number): Promise<void> {
    const key = `overlay\0${base}\0${baseFormat}\0${sizeBytes ?? ''}`;
    await this.copy(key, (tmp) => createOverlay(tmp, base, baseFormat, sizeBytes), path);
  }

  private async copy(key: string, make: (tmp: string) => Promise<void>, path: string): Promise<void> {
    const p = this.template(key, make);
    try {
      await copyFileTo(await p, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // evicted between lookup and copy (or removed by hand): made again, once
      if (this.made.get(key) === p) this.made.delete(key);
      await copyFileTo(await this.template(key, make), path);
    }
  }

  /** The template of `key`, made if it is not there yet. */
  private template(key: string, make: (tmp: string) => Promise<void>): Promise<string> {
    const known = this.made.get(key);
    if (known) {
      // most recently used last
      this.made.delete(key);
      this.made.set(key, known);
      return known;
    }
    this.evict((this.o.max ?? 64) - 1);
    const p = this.make(key, make);
    this.made.set(key, p);
    p.catch(() => {
      if (this.made.get(key) === p) this.made.delete(key);
    });
    return p;
  }

  private async make(key: string, make: (tmp: string) => Promise<void>): Promise<string> {
    this.ready ??= removePath(this.o.dir).then(() => makeDir(this.o.dir, 0o700));
    await this.ready.catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    // a name of its own: the file of an evicted template of the same key may still be being removed
    const n = ++this.seq;
    const path = join(this.o.dir, `${createHash('sha256').update(key).digest('hex').slice(0, 24)}-${n}.qcow2`);
    const tmp = join(this.o.dir, `.tmp-${n}`);
    try {
      await make(tmp);
      await renamePath(tmp, path);
    } catch (err) {
      await removePath(tmp);
      throw err;
    }
    return path;
  }

  /** Forgets the least recently used templates beyond `keep` and removes their files. */
  private evict(keep: number): void {
    while (this.made.size > keep) {
      const [key, p] = this.made.entries().next().value!;
      this.made.delete(key);
      // a copy from it in progress has its file open; a later use makes it again
      p.then(removePath).catch(() => undefined);
    }
  }

  /** The templates on disk (tests). */
  async list(): Promise<string[]> {
    return (await listDir(this.o.dir)).filter((f) => !f.startsWith('.'));
  }
}
