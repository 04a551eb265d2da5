import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

export interface PutOptions {
  contentType: string;
  /** e.g. immutable caching for output images, whose keys are never reused. */
  cacheControl?: string;
}

export interface ObjectInfo {
  size: number;
  contentType: string;
  /** Quoted, as HTTP sends it. */
  etag: string;
  lastModified: Date;
}

/** Inclusive byte offsets, as in an HTTP Range header. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface StoredObject extends ObjectInfo {
  /** The whole object, or only the requested range. */
  stream: Readable;
}

/**
 * The store failed or refused an operation (down, unreachable, wrong bucket or
 * credentials); the message names the store and its reason. Such a fault is
 * the store's, not the image's, so jobs wait for it (storage-outage.ts).
 */
export class StorageError extends Error {}

/**
 * Where output images live: local disk for one machine, an object store for
 * many. Keys are relative, slash-separated and deterministic (storage-keys.ts),
 * so writing the same key twice replaces, never duplicates; a failed write
 * leaves no partial object.
 */
export abstract class StorageDriver {
  /** The scratch folder's creation, once per driver (inScratchFolder). */
  private scratchFolder: Promise<unknown> | null = null;

  abstract put(key: string, body: Buffer | Readable, options: PutOptions): Promise<void>;
  /**
   * Stores the local file at `path` under `key` and takes the file: once stored
   * it is moved into place or deleted. On failure it may still be there.
   */
  abstract putFile(key: string, path: string, options: PutOptions): Promise<void>;
  /**
   * A fresh local path, ending in the key's extension, for producers that
   * write files themselves (libvips picks the format from the extension).
   * The local driver hands out one on the storage volume, so putFile is a rename.
   */
  abstract scratchPath(key: string): Promise<string>;
  /**
   * Stores the object at `from` under `to` as well, server-side: no byte
   * passes through this process. The two stay independent (deleting one
   * leaves the other); writing `to` again replaces it. Resolves to false,
   * storing nothing, when `from` does not exist.
   */
  abstract copy(from: string, to: string, options: PutOptions): Promise<boolean>;
  /** Resolves to null when the key does not exist. */
  abstract head(key: string): Promise<ObjectInfo | null>;
  /** Resolves to null when the key does not exist; `range` must lie within the object. */
  abstract get(key: string, range?: ByteRange): Promise<StoredObject | null>;
  /** Removing a missing key is not an error. */
  abstract delete(key: string): Promise<void>;
  /** Removes every object whose key starts with `prefix` (which ends in '/'); resolves to how many. */
  abstract deleteByPrefix(prefix: string): Promise<number>;
  /** Throws, with the reason, when the store cannot take a write; readiness runs it at most once a minute. */
  abstract checkWritable(): Promise<void>;
  /** Throws, with the reason, when the store does not answer; writes nothing, so readiness can run it often. */
  abstract checkReachable(): Promise<void>;

  /** Lets `write` produce the file at a scratch path, then stores it; nothing is left behind on failure. */
  async writeThrough<T>(key: string, options: PutOptions, write: (path: string) => Promise<T>): Promise<T> {
    const path = await this.scratchPath(key);
    try {
      const result = await write(path);
      await this.putFile(key, path, options);
      return result;
    } catch (error) {
      // The scratch folder may be what went missing: the next write creates it again.
      this.scratchFolder = null;
      await removeFile(path);
      throw error;
    }
  }

  /**
   * Scratch paths are handed out for every image, and each call to the file
   * system waits in libuv's pool behind the images being encoded there: the
   * folder is created once, not per image (again after a failed write).
   */
  protected async inScratchFolder(folder: string, name: string): Promise<string> {
    this.scratchFolder ??= mkdir(folder, { recursive: true });
    try {
      await this.scratchFolder;
    } catch (error) {
      this.scratchFolder = null;
      throw error;
    }
    return join(folder, name);
  }
}

/** Removes a file that may already be gone; cheaper than rm({ force: true }), which walks it as a tree. */
export async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
