import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageDriver, StoredObject, isSafeKey } from './storage.driver.js';

export class LocalStorageDriver extends StorageDriver {
  constructor(private readonly root: string) {
    super();
  }

  async put(key: string, data: Buffer | Readable): Promise<void> {
    await this.putFile(key, async (path) => {
      if (Buffer.isBuffer(data)) await writeFile(path, data);
      else await pipeline(data, createWriteStream(path));
    });
  }

  async putFile<T>(key: string, write: (path: string) => Promise<T>): Promise<T> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true });
    // Write beside the target and rename: readers never see a half-written file,
    // and a retried job replaces the same key instead of adding another. The
    // extension stays last, for writers that pick the format from it.
    const temporary = join(dirname(path), `.${randomUUID()}.tmp.${basename(path)}`);
    try {
      const result = await write(temporary);
      await rename(temporary, path);
      return result;
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async get(key: string): Promise<StoredObject | null> {
    if (!isSafeKey(key)) return null;
    const path = this.pathOf(key);
    try {
      const info = await stat(path);
      if (!info.isFile()) return null;
      return { stream: createReadStream(path), size: info.size };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async checkWritable(): Promise<void> {
    const key = `health-check/${randomUUID()}`;
    await this.put(key, Buffer.from('ok'));
    await rm(this.pathOf(key), { force: true });
  }

  private pathOf(key: string): string {
    if (!isSafeKey(key)) throw new Error(`Unsafe storage key: ${key}`);
    return join(this.root, ...key.split('/'));
  }
}
