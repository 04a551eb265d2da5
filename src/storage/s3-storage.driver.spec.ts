import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer, text } from 'node:stream/consumers';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { S3Server, startAccessDeniedStub } from '../../test/support/s3-server.js';
import type { S3Settings } from '../config/app-config.js';
import { S3StorageDriver } from './s3-storage.driver.js';
import { StorageError } from './storage.driver.js';

const IMAGE = { contentType: 'image/jpeg', cacheControl: 'public, max-age=31536000, immutable' };
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Against s3rver on loopback: the real S3 REST API through the real SDK, nothing mocked. */
describe('S3StorageDriver', () => {
  let s3: S3Server;
  let scratch: string;
  let storage: S3StorageDriver;

  const settings = (overrides: Partial<S3Settings> = {}): S3Settings => ({
    bucket: 'bucket',
    endpoint: s3.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    forcePathStyle: true,
    prefix: 'pixbatch/',
    ...overrides,
  });

  beforeAll(async () => {
    s3 = await S3Server.start(['bucket', 'other']);
  });

  afterAll(async () => {
    await s3.close();
  });

  beforeEach(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'pixbatch-scratch-'));
    storage = new S3StorageDriver(settings(), scratch);
    await storage.deleteByPrefix('images/');
  });

  afterEach(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('copies an object server-side under the new key, with the put options, independent of the source', async () => {
    const pixels = randomBytes(50_000);
    await storage.put('images/a/1.jpg', pixels, { contentType: 'image/png' });

    expect(await storage.copy('images/a/1.jpg', 'images/b/1-copy.jpg', IMAGE)).toBe(true);

    await storage.deleteByPrefix('images/a/');
    const copy = await storage.get('images/b/1-copy.jpg');
    expect(copy).toMatchObject({ contentType: 'image/jpeg', size: pixels.length });
    expect(sha256(await buffer(copy!.stream))).toBe(sha256(pixels));
    const head = await s3
      .client()
      .send(new HeadObjectCommand({ Bucket: 'bucket', Key: 'pixbatch/images/b/1-copy.jpg' }));
    expect(head.CacheControl).toBe(IMAGE.cacheControl);
  });

  it('answers false to a copy whose source is gone, storing nothing', async () => {
    expect(await storage.copy('images/a/gone.jpg', 'images/b/1.jpg', IMAGE)).toBe(false);

    expect(await s3.keys('bucket')).toEqual([]);
  });

  it('stores what the writer wrote under the prefixed key, with its type and cache policy, and cleans the scratch file', async () => {
    const pixels = randomBytes(300_000);
    const result = await storage.writeThrough(
      'images/r/1.webp',
      { ...IMAGE, contentType: 'image/webp' },
      async (path) => {
        expect(path.startsWith(scratch)).toBe(true);
        expect(path.endsWith('.webp')).toBe(true);
        await writeFile(path, pixels);
        return 42;
      },
    );

    expect(result).toBe(42);
    expect(await s3.keys('bucket')).toEqual(['pixbatch/images/r/1.webp']);
    const client = s3.client();
    const head = await client.send(new HeadObjectCommand({ Bucket: 'bucket', Key: 'pixbatch/images/r/1.webp' }));
    expect(head).toMatchObject({
      ContentType: 'image/webp',
      CacheControl: IMAGE.cacheControl,
      ContentLength: pixels.length,
    });
    const object = await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'pixbatch/images/r/1.webp' }));
    expect(sha256(Buffer.from(await object.Body!.transformToByteArray()))).toBe(sha256(pixels));
    client.destroy();
    expect(await readdir(scratch)).toEqual([]);
  });

  it('streams an upload of unknown length larger than one part, byte for byte', async () => {
    const data = randomBytes(12 * 1024 * 1024);
    const chunks = function* () {
      for (let offset = 0; offset < data.length; offset += 64 * 1024) yield data.subarray(offset, offset + 64 * 1024);
    };
    await storage.put('images/r/big.png', Readable.from(chunks()), { contentType: 'image/png' });

    const stored = await storage.get('images/r/big.png');
    expect(stored).toMatchObject({ size: data.length, contentType: 'image/png' });
    expect(sha256(await buffer(stored!.stream))).toBe(sha256(data));
  });

  it('a retried write replaces the object under the same key and creates no second one', async () => {
    await storage.put('images/r/1.jpg', Buffer.from('first'), IMAGE);
    await storage.put('images/r/1.jpg', Buffer.from('second'), IMAGE);

    expect(await s3.keys('bucket', 'pixbatch/images/r/')).toEqual(['pixbatch/images/r/1.jpg']);
    expect(await text((await storage.get('images/r/1.jpg'))!.stream)).toBe('second');
  });

  it('a failed write leaves no object and no scratch file', async () => {
    const failing = new Readable({
      read() {
        this.push(randomBytes(1024 * 1024));
        if (this.readableLength > 0) this.destroy(new Error('source broke'));
      },
    });
    await expect(storage.put('images/r/broken.jpg', failing, IMAGE)).rejects.toThrow(/source broke/);
    // Past the first part: a multipart upload is under way and must be aborted, not completed.
    let sent = 0;
    const failingLater = new Readable({
      read() {
        sent += 1024 * 1024;
        if (sent > 7 * 1024 * 1024) this.destroy(new Error('source broke later'));
        else this.push(randomBytes(1024 * 1024));
      },
    });
    // (s3rver answers the abort with 405, which then is the error reported; S3 and MinIO abort.)
    await expect(storage.put('images/r/broken-later.jpg', failingLater, IMAGE)).rejects.toBeInstanceOf(StorageError);
    await expect(
      storage.writeThrough('images/r/2.jpg', IMAGE, async (path) => {
        await writeFile(path, 'half');
        throw new Error('encoder failed');
      }),
    ).rejects.toThrow('encoder failed');

    expect(await s3.keys('bucket', 'pixbatch/images/r/')).toEqual([]);
    expect(await readdir(scratch)).toEqual([]);
  });

  it('reads metadata, the whole object or a byte range, and null for a missing key', async () => {
    const data = Buffer.from('0123456789abcdef');
    await storage.put('images/r/3.jpg', data, IMAGE);

    const info = await storage.head('images/r/3.jpg');
    expect(info).toMatchObject({ size: 16, contentType: 'image/jpeg' });
    expect(info!.etag).toMatch(/^".+"$/);
    const range = await storage.get('images/r/3.jpg', { start: 4, end: 9 });
    expect(range).toMatchObject({ size: 16, etag: info!.etag });
    expect(await text(range!.stream)).toBe('456789');
    expect(await storage.head('images/r/missing.jpg')).toBeNull();
    expect(await storage.get('images/r/missing.jpg')).toBeNull();
    expect(await storage.head('../escape')).toBeNull();
  });

  it('deletes one key, or every key under a prefix, and nothing outside it', async () => {
    for (const key of ['images/a/1.jpg', 'images/a/2.jpg', 'images/b/1.jpg'])
      await storage.put(key, Buffer.from(key), IMAGE);
    await storage.delete('images/b/1.jpg');
    await storage.delete('images/b/never.jpg');
    await storage.put('images/b/2.jpg', Buffer.from('stays'), IMAGE);

    expect(await storage.deleteByPrefix('images/a/')).toBe(2);
    expect(await s3.keys('bucket', 'pixbatch/')).toEqual(['pixbatch/images/b/2.jpg']);
  });

  it('checks it can write, leaving nothing behind, also with many probes at once', async () => {
    await Promise.all(Array.from({ length: 20 }, () => storage.checkWritable()));
    expect(await s3.keys('bucket', 'pixbatch/health-check')).toEqual([]);
  });

  it('names the bucket and the reason when the bucket does not exist', async () => {
    const missing = new S3StorageDriver(settings({ bucket: 'no-such-bucket' }), scratch);

    const failure = missing.checkWritable();
    await expect(failure).rejects.toBeInstanceOf(StorageError);
    await expect(failure).rejects.toThrow(/"no-such-bucket".*NoSuchBucket/);
    await expect(missing.get('images/r/1.jpg')).rejects.toThrow(/no-such-bucket.*NoSuchBucket/);
    // The read-only check names it too: a GET's answer has a body, where HeadBucket's would not.
    await expect(missing.checkReachable()).rejects.toThrow(/"no-such-bucket".*NoSuchBucket/);
    await storage.checkReachable();
  });

  it('names the reason when the store refuses the credentials', async () => {
    const stub = await startAccessDeniedStub();
    try {
      const refused = new S3StorageDriver(settings({ endpoint: stub.endpoint }), scratch);
      await expect(refused.checkWritable()).rejects.toThrow(/"bucket".*AccessDenied \(403\): Access Denied/);
      // A HEAD answer has no body; the status still says why, and it is not taken for a missing key.
      await expect(refused.head('images/r/1.jpg')).rejects.toThrow(/403/);
    } finally {
      await stub.close();
    }
  });

  it('a file the store refuses is not left open: its scratch file is gone and no read of it is pending', async () => {
    await s3.stop();
    try {
      await expect(
        storage.writeThrough('images/r/5.jpg', IMAGE, (path) => writeFile(path, 'x')),
      ).rejects.toBeInstanceOf(StorageError);
    } finally {
      await s3.resume();
    }
    // libuv's pool runs in order: an open queued before this stat has run once it returns.
    await stat(scratch);
    const fds = await readdir('/proc/self/fd');
    const targets = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
    expect(targets.filter((target) => target.startsWith(scratch))).toEqual([]);
    expect(await readdir(scratch)).toEqual([]);
  }, 60_000);

  it('fails with a StorageError while the store is down, and works again once it is back', async () => {
    await s3.stop();
    try {
      await expect(storage.put('images/r/4.jpg', Buffer.from('x'), IMAGE)).rejects.toBeInstanceOf(StorageError);
      await expect(storage.checkWritable()).rejects.toThrow(/ECONNREFUSED/);
      await expect(storage.checkReachable()).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      await s3.resume();
    }
    await storage.put('images/r/4.jpg', Buffer.from('x'), IMAGE);
    expect(await storage.head('images/r/4.jpg')).toMatchObject({ size: 1 });
  }, 60_000);
});
