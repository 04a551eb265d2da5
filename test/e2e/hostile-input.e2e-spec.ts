import { deflateSync } from 'node:zlib';
import type { ProductPageDto } from '../../src/products/dto/product-page.dto.js';
import type { CreatedRequestDto } from '../../src/requests/dto/request-status.dto.js';
import { productCsv } from '../factories/csv.factory.js';
import { photoJpeg } from '../support/images.js';
import { ImageServer } from '../support/image-server.js';
import { TestApp, multipart, startTestApp, waitForTerminal } from '../support/test-app.js';

/** A valid 1×1 PNG whose header claims 20000×20000 pixels: a decompression bomb. */
function pngBomb(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(20_000, 0);
  header.writeUInt32BE(20_000, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.alloc(100))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function crc32(bytes: Buffer): number {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

/**
 * Hostile images and hosts, end to end: each ends as a failed image with a
 * specific code, never a crash or a hung job, and the batch still finishes.
 */
describe('hostile images and hosts', () => {
  let images: ImageServer;
  let harness: TestApp;

  beforeAll(async () => {
    images = await ImageServer.start();
    const photo = await photoJpeg(400, 300);
    images.route('/truncated.jpg', { type: 'image/jpeg', body: photo.subarray(0, Math.floor(photo.length * 0.6)) });
    images.route('/bomb.png', { type: 'image/png', body: pngBomb() });
    images.route('/vector.svg', {
      type: 'image/svg+xml',
      body: '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
    });
    images.route('/huge.jpg', { type: 'image/jpeg', body: Buffer.alloc(300_000, 0xff) });
    images.route('/huge-chunked.jpg', { type: 'image/jpeg', body: Buffer.alloc(300_000, 0xff), chunked: true });
    images.route('/drip.jpg', { type: 'image/jpeg', body: photo, dripMs: 200 });
    harness = await startTestApp({ MAX_IMAGE_BYTES: '200000', FETCH_TIMEOUT_MS: '1500', JOB_ATTEMPTS: '1' });
  });

  afterAll(async () => {
    await harness?.close();
    await images?.close();
  });

  it('fails each hostile image with its own code and finishes the batch', async () => {
    const cases: [string, string][] = [
      ['/truncated.jpg', 'DECODE_ERROR'],
      ['/bomb.png', 'TOO_MANY_PIXELS'],
      ['/vector.svg', 'UNSUPPORTED_FORMAT'],
      ['/page.jpg', 'NOT_AN_IMAGE'],
      ['/huge.jpg', 'TOO_LARGE'],
      ['/huge-chunked.jpg', 'TOO_LARGE'],
      ['/drip.jpg', 'FETCH_TIMEOUT'],
    ];
    const csv = productCsv([
      { serial: 1, name: 'Good', urls: [images.url('/photo.jpg')] },
      ...cases.map(([path], index) => ({ serial: index + 2, name: path, urls: [images.url(path)] })),
    ]);
    const started = Date.now();
    const response = await harness.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      ...multipart({}, { content: csv }),
    });
    const { requestId } = response.json<CreatedRequestDto>();
    const status = await waitForTerminal(harness.app, requestId, 30_000);
    expect(status).toMatchObject({
      status: 'completed_with_errors',
      counts: { images: { succeeded: 1, failed: cases.length } },
    });
    // The drip server is cut off at the deadline, not after the ~20 s it would take.
    expect(Date.now() - started).toBeLessThan(10_000);

    const products = (
      await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}/products?pageSize=50` })
    ).json<ProductPageDto>();
    const codes = Object.fromEntries(
      products.items.slice(1).map((item): [string, string | null] => [item.name, item.images[0].errorCode]),
    );
    expect(codes).toEqual(Object.fromEntries(cases));
  });
});

describe('the outbound guard, closed', () => {
  let images: ImageServer;
  let harness: TestApp;

  beforeAll(async () => {
    images = await ImageServer.start();
    harness = await startTestApp({ ALLOW_PRIVATE_NETWORKS: 'false' });
  });

  afterAll(async () => {
    await harness?.close();
    await images?.close();
  });

  it('blocks loopback in every spelling without connecting, and does not retry', async () => {
    const port = new URL(images.baseUrl).port;
    const spellings = [
      `http://127.0.0.1:${port}/photo.jpg`,
      `http://localhost:${port}/photo.jpg`,
      `http://2130706433:${port}/photo.jpg`,
      `http://0177.0.0.1:${port}/photo.jpg`,
      `http://0x7f.1:${port}/photo.jpg`,
      `http://[::1]:${port}/photo.jpg`,
      `http://[::ffff:127.0.0.1]:${port}/photo.jpg`,
    ];
    const csv = productCsv(spellings.map((url, index) => ({ serial: index + 1, name: url, urls: [url] })));
    const response = await harness.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      ...multipart({}, { content: csv }),
    });
    expect(response.statusCode).toBe(202);
    const { requestId } = response.json<CreatedRequestDto>();
    const status = await waitForTerminal(harness.app, requestId, 30_000);
    expect(status).toMatchObject({ status: 'failed', counts: { images: { failed: spellings.length } } });
    const products = (
      await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}/products` })
    ).json<ProductPageDto>();
    for (const item of products.items)
      expect(item.images[0]).toMatchObject({ errorCode: 'BLOCKED_ADDRESS', attempts: 1 });
    expect(images.hitCount('/photo.jpg')).toBe(0);
  });
});
