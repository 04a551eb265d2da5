import { randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3Settings } from '../config/app-config.js';
import { contentTypeOf } from './content-types.js';
import { isSafeKey } from './storage-keys.js';
import {
  ByteRange,
  ObjectInfo,
  PutOptions,
  removeFile,
  StorageDriver,
  StorageError,
  StoredObject,
} from './storage.driver.js';

// lib-storage's smallest part; a stream is held in memory at most one part at a time.
const PART_SIZE = 5 * 1024 * 1024;
// A store that hangs must fail the request (and the job retries) rather than hold a worker slot.
const REQUEST_TIMEOUT_MS = 30_000;

/** The storage probes' keys: the write probe's objects are deleted as soon as written, the read probe's is never written. */
const HEALTH_CHECK = 'health-check-';

/**
 * An S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Ceph RGW). Every
 * write is a single PUT, or a multipart upload that is aborted on failure, so
 * readers never see a partial object, and a retried job's PUT replaces its key.
 */
export class S3StorageDriver extends StorageDriver {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  /** `scratchDir`: this host's folder for files libvips writes before they are uploaded. */
  constructor(
    settings: S3Settings,
    private readonly scratchDir: string,
  ) {
    super();
    this.bucket = settings.bucket;
    this.prefix = settings.prefix;
    this.client = new S3Client({
      region: settings.region,
      endpoint: settings.endpoint,
      forcePathStyle: settings.forcePathStyle,
      credentials: settings.credentials,
      // The SDK's default CRC32 checksums on every request are refused by R2 and some MinIO versions.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: 5000 },
    });
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions): Promise<void> {
    const params = { ...this.target(key), ContentType: options.contentType, CacheControl: options.cacheControl };
    await this.call(`store ${key}`, async () => {
      if (Buffer.isBuffer(body)) {
        await this.client.send(new PutObjectCommand({ ...params, Body: body, ContentLength: body.length }));
        return;
      }
      // Unknown length: parts of PART_SIZE, one in flight; a failure aborts the multipart upload.
      await new Upload({
        client: this.client,
        params: { ...params, Body: body },
        partSize: PART_SIZE,
        queueSize: 1,
      }).done();
    });
  }

  /**
   * The file is opened before the request and closed after it, whatever the
   * outcome: a stream that opened its path by itself could do so after a
   * refused request had returned and the scratch file was gone, and its
   * ENOENT, with nobody left listening, ended the process (seen with the
   * store down while libuv's pool was busy encoding).
   */
  async putFile(key: string, path: string, options: PutOptions): Promise<void> {
    const file = await open(path, 'r');
    const body = file.createReadStream({ autoClose: false });
    // A read that fails ends the request at once instead of leaving it to the request timeout.
    const aborter = new AbortController();
    body.on('error', (error) => aborter.abort(error));
    try {
      const { size } = await file.stat();
      // The length is known, so the file streams in one PUT without being read into memory.
      await this.call(`store ${key}`, () =>
        this.client.send(
          new PutObjectCommand({
            ...this.target(key),
            Body: body,
            ContentLength: size,
            ContentType: options.contentType,
            CacheControl: options.cacheControl,
          }),
          { abortSignal: aborter.signal },
        ),
      );
    } finally {
      body.destroy();
      await file.close();
    }
    await removeFile(path);
  }

  /** CopyObject: the store copies the bytes itself; the new object gets the put options, as a put would. */
  async copy(from: string, to: string, options: PutOptions): Promise<boolean> {
    const source = this.target(from);
    return this.call(`copy ${from} to ${to}`, async () => {
      try {
        await this.client.send(
          new CopyObjectCommand({
            ...this.target(to),
            // Keys are URL-safe (isSafeKey) and the slashes stay as they are: stores differ in decoding '%2F'.
            CopySource: `${source.Bucket}/${source.Key}`,
            MetadataDirective: 'REPLACE',
            ContentType: options.contentType,
            CacheControl: options.cacheControl,
          }),
        );
        return true;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
    });
  }

  async scratchPath(key: string): Promise<string> {
    this.target(key);
    return this.inScratchFolder(this.scratchDir, `${randomUUID()}.${basename(key)}`);
  }

  async head(key: string): Promise<ObjectInfo | null> {
    if (!isSafeKey(key)) return null;
    return this.call(`read ${key}`, async () => {
      try {
        const object = await this.client.send(new HeadObjectCommand(this.target(key)));
        return {
          size: object.ContentLength ?? 0,
          contentType: object.ContentType ?? contentTypeOf(key),
          etag: object.ETag ?? `"${(object.ContentLength ?? 0).toString(16)}"`,
          lastModified: object.LastModified ?? new Date(0),
        };
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    });
  }

  async get(key: string, range?: ByteRange): Promise<StoredObject | null> {
    if (!isSafeKey(key)) return null;
    return this.call(`read ${key}`, async () => {
      try {
        const object = await this.client.send(
          new GetObjectCommand({ ...this.target(key), Range: range ? `bytes=${range.start}-${range.end}` : undefined }),
        );
        // With a range, ContentLength is the range's; the object's size follows the slash in Content-Range.
        const total = object.ContentRange ? Number(object.ContentRange.split('/')[1]) : object.ContentLength;
        return {
          size: total ?? 0,
          contentType: object.ContentType ?? contentTypeOf(key),
          etag: object.ETag ?? '""',
          lastModified: object.LastModified ?? new Date(0),
          stream: object.Body as Readable,
        };
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    });
  }

  async delete(key: string): Promise<void> {
    await this.call(`delete ${key}`, () => this.client.send(new DeleteObjectCommand(this.target(key))));
  }

  async deleteByPrefix(prefix: string): Promise<number> {
    if (!prefix.endsWith('/')) throw new Error(`A prefix ends in '/': ${prefix}`);
    let count = 0;
    let token: string | undefined;
    await this.call(`delete ${prefix}`, async () => {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: token }),
        );
        const keys = (page.Contents ?? []).map((object) => ({ Key: object.Key! }));
        if (keys.length > 0) {
          const result = await this.client.send(
            new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }),
          );
          if (result.Errors?.length) {
            const first = result.Errors[0];
            throw new Error(
              `${result.Errors.length} objects not deleted, e.g. ${first.Key}: ${first.Code} ${first.Message}`,
            );
          }
          count += keys.length;
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    });
    return count;
  }

  async checkWritable(): Promise<void> {
    // Not in a folder of its own: stores that keep objects as files (s3rver) drop a folder
    // once it is empty, under the feet of a concurrent probe writing into it.
    const key = `${HEALTH_CHECK}${randomUUID()}`;
    await this.put(key, Buffer.from('ok'), { contentType: 'text/plain' });
    await this.delete(key);
  }

  async checkReachable(): Promise<void> {
    // A GET (the cheapest class of request) of a key no one writes: the store
    // answers NoSuchKey, which is success here. HeadBucket would not do: a
    // HEAD answer has no body, so a missing bucket would be a bare 404
    // instead of the store's own NoSuchBucket.
    const found = await this.get(`${HEALTH_CHECK}read`);
    found?.stream.destroy();
  }

  private target(key: string) {
    if (!isSafeKey(key)) throw new Error(`Unsafe storage key: ${key}`);
    return { Bucket: this.bucket, Key: this.prefix + key };
  }

  /** Names the bucket and the store's own reason (NoSuchBucket, AccessDenied, a refused connection). */
  private async call<T>(action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw new StorageError(`S3 bucket "${this.bucket}": cannot ${action}: ${describe(error)}`, { cause: error });
    }
  }
}

function isNotFound(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.name === 'NotFound' || error.name === 'NoSuchKey') &&
    error.$metadata.httpStatusCode === 404
  );
}

function describe(error: unknown): string {
  if (error instanceof S3ServiceException) {
    const status = error.$metadata.httpStatusCode;
    // HEAD answers carry no body, so the SDK can only name the status.
    const message = error.message && error.message !== 'UnknownError' ? error.message : `HTTP ${status}`;
    return `${error.name} (${status}): ${message}`;
  }
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message || error.name;
  }
  return String(error);
}
