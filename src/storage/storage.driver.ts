import type { Readable } from 'node:stream';

export interface StoredObject {
  stream: Readable;
  size: number;
}

/**
 * Where output images and result CSVs live. Keys are relative, slash-separated
 * and deterministic, so writing the same key twice replaces, never duplicates.
 */
export abstract class StorageDriver {
  abstract put(key: string, data: Buffer | Readable): Promise<void>;
  /**
   * Stores what `write` writes to the path it is given, for producers that
   * write files themselves (libvips); the path keeps the key's extension.
   */
  abstract putFile<T>(key: string, write: (path: string) => Promise<T>): Promise<T>;
  /** Resolves to null when the key does not exist. */
  abstract get(key: string): Promise<StoredObject | null>;
  /** Throws when the storage cannot take a write; used by readiness. */
  abstract checkWritable(): Promise<void>;
}

const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/** Rejects anything that could escape the storage root (`..`, absolute paths, odd bytes). */
export function isSafeKey(key: string): boolean {
  return key.length <= 512 && KEY_PATTERN.test(key) && !key.split('/').some((part) => part === '..' || part === '.');
}
