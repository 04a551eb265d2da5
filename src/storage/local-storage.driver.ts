import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageDriver, StoredObject, isSafeKey } from './storage.driver.js';

export class LocalStorageDriver extends StorageDriver {
  constructor(private readonly root: string) {
    super();
  }

  async put(key: string, data: Buffer | Readable): Promise<void> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true });
    // Write beside the target and rename: readers never see a half-written file,
    // and a retried job replaces the same key instead of adding another.
    const temporary = `${path}.${randomUUID()}.tmp`;
    try {
      if (Buffer.isBuffer(data)) await writeFile(temporary, data);
      else await pipeline(data, createWriteStream(temporary));
      await rename(temporary, path);
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
