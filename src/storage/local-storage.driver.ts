import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { access, constants, copyFile, link, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { contentTypeOf } from './content-types.js';
import { ByteRange, ObjectInfo, PutOptions, removeFile, StorageDriver, StoredObject } from './storage.driver.js';
import { isSafeKey } from './storage-keys.js';

// Scratch files live on the storage volume (so storing one is a rename) in a
// folder no key can name: keys start with a letter or digit.
const SCRATCH = '.scratch';

/**
 * Files under STORAGE_DIR. The content type follows from the key's extension
 * and the ETag from size and modification time, so nothing is kept beside a file.
 */
export class LocalStorageDriver extends StorageDriver {
  constructor(private readonly root: string) {
    super();
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions): Promise<void> {
    await this.writeThrough(key, options, async (path) => {
      if (Buffer.isBuffer(body)) await writeFile(path, body);
      else await pipeline(body, createWriteStream(path));
    });
  }

  // A file keeps no metadata: head derives the content type from the key, so the put options are not used.
  async putFile(key: string, path: string): Promise<void> {
    const target = this.pathOf(key);
    // Readers never see a half-written file, and a retried job replaces the key.
    // The folder exists for all but a request's first image: created only when missing.
    try {
      await rename(path, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await mkdir(dirname(target), { recursive: true });
      await rename(path, target);
    }
  }

  /**
   * A hard link: no bytes are copied and no space used, and deleting either
   * name leaves the other (outputs are never written in place, only replaced
   * by a rename). Where links are refused (another file system, a volume
   * without them) the bytes are copied. Either way the new name is made in
   * the scratch folder and renamed into place, as putFile does.
   */
  async copy(from: string, to: string): Promise<boolean> {
    // A rename onto another link of the same file does nothing (POSIX), which would leave the scratch link behind.
    if (from === to) return (await this.head(to)) !== null;
    const source = this.pathOf(from);
    const path = await this.scratchPath(to);
    try {
      await link(source, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      try {
        await copyFile(source, path);
      } catch (copyError) {
        await removeFile(path);
        if ((copyError as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw copyError;
      }
    }
    try {
      await this.putFile(to, path);
    } catch (error) {
      await removeFile(path);
      throw error;
    }
    return true;
  }

  async scratchPath(key: string): Promise<string> {
    this.pathOf(key);
    return this.inScratchFolder(join(this.root, SCRATCH), `${randomUUID()}.${basename(key)}`);
  }

  async head(key: string): Promise<ObjectInfo | null> {
    if (!isSafeKey(key)) return null;
    try {
      const info = await stat(this.pathOf(key));
      if (!info.isFile()) return null;
      return {
        size: info.size,
        contentType: contentTypeOf(key),
        etag: `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`,
        lastModified: info.mtime,
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async get(key: string, range?: ByteRange): Promise<StoredObject | null> {
    const info = await this.head(key);
    if (!info) return null;
    return { ...info, stream: createReadStream(this.pathOf(key), range) };
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async deleteByPrefix(prefix: string): Promise<number> {
    if (!prefix.endsWith('/')) throw new Error(`A prefix ends in '/': ${prefix}`);
    const folder = this.pathOf(prefix.slice(0, -1));
    let count: number;
    try {
      count = (await readdir(folder, { recursive: true, withFileTypes: true })).filter((entry) =>
        entry.isFile(),
      ).length;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    await rm(folder, { recursive: true, force: true });
    return count;
  }

  async checkWritable(): Promise<void> {
    const key = `health-check/${randomUUID()}`;
    await this.put(key, Buffer.from('ok'), { contentType: 'text/plain' });
    await this.delete(key);
  }

  async checkReachable(): Promise<void> {
    await access(this.root, constants.R_OK | constants.W_OK);
  }

  private pathOf(key: string): string {
    if (!isSafeKey(key)) throw new Error(`Unsafe storage key: ${key}`);
    return join(this.root, ...key.split('/'));
  }
}
