import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { expect } from '@jest/globals';
import sharp from 'sharp';
import type { ProductPageDto } from '../../src/products/dto/product-page.dto.js';
import type { CreatedRequestDto, RequestStatusDto } from '../../src/requests/dto/request-status.dto.js';
import { productCsv } from '../factories/csv.factory.js';
import type { ReadinessReport } from '../support/health.js';
import { ImageServer } from '../support/image-server.js';
import { PROBE_INTERVAL_MS, PROBES_STALE_AFTER_MS } from '../../src/health/readiness-probes.js';
import { S3Server, startAccessDeniedStub, startCountingProxy } from '../support/s3-server.js';
import { TestApp, multipart, startTestApp, waitForTerminal } from '../support/test-app.js';
import { waitUntil } from '../support/wait-until.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const PUBLIC_BASE_URL = 'http://files.pixbatch.test';

/**
 * The service on STORAGE_DRIVER=s3 against s3rver on loopback: outputs go to
 * the bucket, /files serves them from it with HEAD, Range and ETag, a CDN base
 * URL applies to requests made before it was set, and readiness says why the
 * store is unusable.
 */
describe('STORAGE_DRIVER=s3', () => {
  let s3: S3Server;
  let images: ImageServer;
  let harness: TestApp;
  let requestId: string;
  let outputUrls: string[];

  beforeAll(async () => {
    s3 = await S3Server.start(['outputs']);
    images = await ImageServer.start();
    harness = await startTestApp({ ...s3.env('outputs', { S3_PREFIX: 'e2e' }), PUBLIC_BASE_URL });
    const csv = productCsv([{ serial: 1, name: 'Chair', urls: [images.url('/photo.jpg'), images.url('/alpha.png')] }]);
    const response = await harness.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      ...multipart({}, { content: csv }),
    });
    expect(response.statusCode).toBe(202);
    requestId = response.json<CreatedRequestDto>().requestId;
    expect(await waitForTerminal(harness.app, requestId, 30_000)).toMatchObject({ status: 'completed' });
    const products = (
      await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}/products` })
    ).json<ProductPageDto>();
    outputUrls = products.items[0].images.map((image) => image.outputUrl!);
  }, 60_000);

  afterAll(async () => {
    await harness?.close();
    await images?.close();
    await s3?.close();
  });

  const path = (url: string) => url.slice(PUBLIC_BASE_URL.length);

  async function stored(key: string): Promise<Buffer> {
    const client = s3.client();
    const object = await client.send(new GetObjectCommand({ Bucket: 'outputs', Key: `e2e/${key}` }));
    client.destroy();
    return Buffer.from(await object.Body!.transformToByteArray());
  }

  it('writes the outputs to the bucket under the prefix, with no file on the local disk', async () => {
    // The public folder is named by a token of the request's own: no output URL names the request.
    const folder = /^\/files\/(images\/[0-9a-f]{32}\/)[^/]+$/.exec(path(outputUrls[0]))?.[1];
    expect(folder).toBeDefined();
    for (const url of outputUrls) expect(url).not.toContain(requestId);
    expect((await s3.keys('outputs', `e2e/${folder}`)).sort()).toEqual(
      outputUrls.map((url) => `e2e/${path(url).slice('/files/'.length)}`).sort(),
    );
    expect(existsSync(join(harness.config.storageDir, 'images'))).toBe(false);
  });

  it('serves each output with its type, length and ETag, byte for byte what the bucket holds', async () => {
    for (const [url, format] of [
      [outputUrls[0], 'jpeg'],
      [outputUrls[1], 'png'],
    ] as const) {
      const response = await harness.app.inject({ method: 'GET', url: path(url) });
      expect(response.statusCode).toBe(200);
      expect(response.headers).toMatchObject({
        'content-type': `image/${format}`,
        'content-length': String(response.rawPayload.length),
        'accept-ranges': 'bytes',
        'cache-control': 'public, max-age=31536000, immutable',
      });
      expect(response.headers.etag).toMatch(/^".+"$/);
      expect((await sharp(response.rawPayload).metadata()).format).toBe(format);
      expect(sha256(response.rawPayload)).toBe(sha256(await stored(path(url).slice('/files/'.length))));
    }
  });

  it('answers HEAD with the headers alone, 304 for a known ETag, 206 for a range and 416 past the end', async () => {
    const url = path(outputUrls[0]);
    const whole = await harness.app.inject({ method: 'GET', url });
    const size = whole.rawPayload.length;

    const head = await harness.app.inject({ method: 'HEAD', url });
    expect(head.statusCode).toBe(200);
    expect(head.headers).toMatchObject({
      'content-length': String(size),
      etag: whole.headers.etag,
      'content-type': 'image/jpeg',
    });
    expect(head.rawPayload.length).toBe(0);

    const cached = await harness.app.inject({
      method: 'GET',
      url,
      headers: { 'if-none-match': whole.headers.etag as string },
    });
    expect(cached.statusCode).toBe(304);
    expect(cached.rawPayload.length).toBe(0);

    const range = await harness.app.inject({ method: 'GET', url, headers: { range: 'bytes=10-109' } });
    expect(range.statusCode).toBe(206);
    expect(range.headers).toMatchObject({ 'content-range': `bytes 10-109/${size}`, 'content-length': '100' });
    expect(range.rawPayload.equals(whole.rawPayload.subarray(10, 110))).toBe(true);

    const tail = await harness.app.inject({ method: 'GET', url, headers: { range: 'bytes=-16' } });
    expect(tail.statusCode).toBe(206);
    expect(tail.rawPayload.equals(whole.rawPayload.subarray(size - 16))).toBe(true);

    const past = await harness.app.inject({ method: 'GET', url, headers: { range: `bytes=${size}-` } });
    expect(past.statusCode).toBe(416);
    expect(past.headers['content-range']).toBe(`bytes */${size}`);
    expect(past.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(past.json()).toMatchObject({ status: 416, code: 'RANGE_NOT_SATISFIABLE' });
  });

  it('answers 404 for a missing key, a key outside the images and a key that tries to escape, on GET and HEAD', async () => {
    for (const url of [
      `/files/images/${requestId}/missing.jpg`,
      `/files/results/${requestId}.csv`,
      '/files/images/%2e%2e/x',
    ]) {
      const response = await harness.app.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ code: 'FILE_NOT_FOUND' });
      expect(response.body).not.toContain('/tmp');
      expect((await harness.app.inject({ method: 'HEAD', url })).statusCode).toBe(404);
    }
  });

  it('with STORAGE_PUBLIC_BASE_URL, output URLs of earlier requests point there and the API links stay', async () => {
    const cdn = await startTestApp({
      ...s3.env('outputs', { S3_PREFIX: 'e2e' }),
      PUBLIC_BASE_URL,
      APP_ROLE: 'api',
      STORAGE_PUBLIC_BASE_URL: 'https://cdn.example.com/e2e/',
    });
    try {
      const products = (
        await cdn.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}/products` })
      ).json<ProductPageDto>();
      const urls = products.items[0].images.map((image) => image.outputUrl);
      expect(urls).toEqual(
        outputUrls.map((url) => url.replace(`${PUBLIC_BASE_URL}/files/`, 'https://cdn.example.com/e2e/')),
      );
      const status = (
        await cdn.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}` })
      ).json<RequestStatusDto>();
      expect(JSON.stringify(status.links)).not.toContain('cdn.example.com');
    } finally {
      await cdn.close();
    }
  });

  it('is ready while the bucket takes writes', async () => {
    const response = await harness.app.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json<ReadinessReport>().info?.storage).toMatchObject({ status: 'up' });
  });

  it('a missing bucket fails readiness with 503 and the reason', async () => {
    const missing = await startTestApp({ ...s3.env('no-such-bucket'), APP_ROLE: 'api' });
    try {
      const response = await missing.app.inject({ method: 'GET', url: '/health/ready' });
      expect(response.statusCode).toBe(503);
      expect(response.json<ReadinessReport>().error?.storage).toMatchObject({
        status: 'down',
        message: expect.stringMatching(/"no-such-bucket".*NoSuchBucket/),
      });
      expect(response.json<ReadinessReport>().info?.database).toMatchObject({ status: 'up' });
    } finally {
      await missing.close();
    }
  });

  it('refused credentials fail readiness with 503 and the reason', async () => {
    const stub = await startAccessDeniedStub();
    const refused = await startTestApp({ ...s3.env('outputs'), S3_ENDPOINT: stub.endpoint, APP_ROLE: 'api' });
    try {
      const response = await refused.app.inject({ method: 'GET', url: '/health/ready' });
      expect(response.statusCode).toBe(503);
      expect(response.json<ReadinessReport>().error?.storage?.message).toMatch(/AccessDenied \(403\): Access Denied/);
    } finally {
      await refused.close();
      await stub.close();
    }
  });

  it('answers 300 readiness calls from its background probes, not with storage requests of their own', async () => {
    const proxy = await startCountingProxy(s3.endpoint);
    const counted = await startTestApp({
      ...s3.env('outputs', { S3_PREFIX: 'e2e' }),
      S3_ENDPOINT: proxy.endpoint,
      APP_ROLE: 'api',
    });
    try {
      const before = proxy.requests();
      const started = performance.now();
      for (let call = 0; call < 300; call++) {
        const response = await counted.app.inject({ method: 'GET', url: '/health/ready' });
        expect(response.statusCode).toBe(200);
      }
      // The probes' own rounds go on meanwhile, one read of the bucket each (the minute's write was at start).
      const rounds = 1 + Math.ceil((performance.now() - started) / PROBE_INTERVAL_MS);
      const made = proxy.requests() - before;
      console.log(`300 readiness calls: ${made} storage request(s) in ${rounds} probe round(s) at most`);
      expect(made).toBeLessThanOrEqual(rounds);
    } finally {
      await counted.close();
      await proxy.close();
    }
  });

  // Last: the store goes away under the suite's service.
  it('answers 503 naming storage while the store is down, and 200 once it is back', async () => {
    const ready = async () => harness.app.inject({ method: 'GET', url: '/health/ready' });
    await s3.stop();
    try {
      await waitUntil('readiness 503', async () => (await ready()).statusCode === 503, 2 * PROBES_STALE_AFTER_MS);
      const report = (await ready()).json<ReadinessReport>();
      expect(report.error?.storage).toMatchObject({ status: 'down', message: expect.stringMatching(/ECONNREFUSED/) });
      expect(report.info).toMatchObject({ database: { status: 'up' }, redis: { status: 'up' } });
    } finally {
      await s3.resume();
    }
    await waitUntil('readiness 200', async () => (await ready()).statusCode === 200, 2 * PROBES_STALE_AFTER_MS);
  });
});
