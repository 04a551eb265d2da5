import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { expect } from '@jest/globals';
import type { ProductPageDto } from '../../src/products/dto/product-page.dto.js';
import type { CreatedRequestDto, RequestStatusDto } from '../../src/requests/dto/request-status.dto.js';
import { productCsv } from '../factories/csv.factory.js';
import { ImageServer } from '../support/image-server.js';
import { photoJpeg } from '../support/images.js';
import { StorageDriver } from '../../src/storage/storage.driver.js';
import { S3Server } from '../support/s3-server.js';
import { type TestApp, multipart, startTestApp } from '../support/test-app.js';
import { waitUntil } from '../support/wait-until.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const PUBLIC_BASE_URL = 'http://files.pixbatch.test';
const suffix = randomUUID().slice(0, 8);
const ALICE = `alice-${suffix}`;
const BOB = `bob-${suffix}`;
const KEYS = { [ALICE]: `a-${suffix}`, [BOB]: `b-${suffix}` };
const LAST_MODIFIED = 'Sun, 06 Dec 2026 10:00:00 GMT';

/** A source file as a supplier's host serves it; its bytes and ETag change when the test replaces it. */
interface Source {
  body: Buffer;
  etag: string | null;
  lastModified: string | null;
  cacheControl?: string;
}

/**
 * A catalogue uploaded again (issue 31): a source host that serves
 * validators and counts conditional requests, on the local driver and on S3
 * through s3rver. A re-run copies the earlier outputs after a 304 or a body
 * with the same SHA-256, and fetches and encodes only what changed.
 */
describe.each(['local', 's3'] as const)('Re-runs, %s storage', (driver) => {
  let s3: S3Server | undefined;
  let images: ImageServer;
  let harness: TestApp;
  const sources = new Map<string, Source>();
  /** Per path: requests that carried If-None-Match or If-Modified-Since, and 304s answered. */
  const conditional = new Map<string, number>();
  const notModified = new Map<string, number>();

  const PATHS = ['/etag.jpg', '/last-modified.jpg', '/plain.jpg', '/changing.jpg', '/no-store.jpg'];
  const csv = (paths = PATHS) =>
    productCsv(paths.map((path, index) => ({ serial: index + 1, name: `SKU ${index + 1}`, urls: [images.url(path)] })));

  function serve(path: string, source: Source): void {
    sources.set(path, source);
    images.route(path, (_hit, request: IncomingMessage) => {
      const current = sources.get(path)!;
      const inm = request.headers['if-none-match'];
      const ims = request.headers['if-modified-since'];
      if (inm !== undefined || ims !== undefined) conditional.set(path, (conditional.get(path) ?? 0) + 1);
      const headers: Record<string, string> = {};
      if (current.etag) headers.etag = current.etag;
      if (current.lastModified) headers['last-modified'] = current.lastModified;
      if (current.cacheControl) headers['cache-control'] = current.cacheControl;
      const unchanged = inm !== undefined ? inm === current.etag : ims !== undefined && ims === current.lastModified;
      if (unchanged) {
        notModified.set(path, (notModified.get(path) ?? 0) + 1);
        return { status: 304, headers };
      }
      return { body: current.body, type: 'image/jpeg', headers };
    });
  }

  function post(tenant: string, fields: Record<string, string>, body: string, headers: Record<string, string> = {}) {
    const form = multipart(fields, { content: body });
    return harness.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      payload: form.payload,
      headers: { ...form.headers, 'x-api-key': KEYS[tenant], ...headers },
    });
  }

  async function upload(tenant: string, fields: Record<string, string> = {}, body = csv()): Promise<string> {
    const response = await post(tenant, fields, body);
    expect(response.statusCode).toBe(202);
    return response.json<CreatedRequestDto>().requestId;
  }

  function get(tenant: string, url: string) {
    return harness.app.inject({ method: 'GET', url, headers: { 'x-api-key': KEYS[tenant] } });
  }

  async function finished(tenant: string, requestId: string): Promise<RequestStatusDto> {
    let status: RequestStatusDto | undefined;
    await waitUntil(
      'the request to finish',
      async () => {
        status = (await get(tenant, `/api/v1/requests/${requestId}`)).json<RequestStatusDto>();
        return status.completed;
      },
      60_000,
    );
    return status!;
  }

  /** Each input URL's path with the output's bytes, read through /files. */
  async function outputs(tenant: string, requestId: string): Promise<Map<string, Buffer>> {
    const page = (await get(tenant, `/api/v1/requests/${requestId}/products`)).json<ProductPageDto>();
    const found = new Map<string, Buffer>();
    for (const image of page.items.flatMap((product) => product.images)) {
      if (!image.outputUrl) continue;
      const file = await harness.app.inject({ method: 'GET', url: image.outputUrl.slice(PUBLIC_BASE_URL.length) });
      expect(file.statusCode).toBe(200);
      found.set(new URL(image.inputUrl).pathname, file.rawPayload);
    }
    return found;
  }

  async function obtained(tenant: string, requestId: string): Promise<Record<string, string | null>> {
    const page = (await get(tenant, `/api/v1/requests/${requestId}/products`)).json<ProductPageDto>();
    return Object.fromEntries(
      page.items
        .flatMap((product) => product.images)
        .map((image) => [new URL(image.inputUrl).pathname, image.obtained]),
    );
  }

  const hits = (path: string) => images.hitCount(path);
  const snapshot = () => ({
    hits: new Map(PATHS.map((path) => [path, hits(path)])),
    conditional: new Map(conditional),
    notModified: new Map(notModified),
  });
  const since = (before: ReturnType<typeof snapshot>, path: string) => ({
    requests: hits(path) - (before.hits.get(path) ?? 0),
    conditional: (conditional.get(path) ?? 0) - (before.conditional.get(path) ?? 0),
    notModified: (notModified.get(path) ?? 0) - (before.notModified.get(path) ?? 0),
  });

  let first: string;
  let firstOutputs: Map<string, Buffer>;
  let second: string;
  let secondStatus: RequestStatusDto;
  let secondOutputs: Map<string, Buffer>;
  let beforeSecond: ReturnType<typeof snapshot>;

  beforeAll(async () => {
    images = await ImageServer.start();
    const storage: Record<string, string> = {};
    if (driver === 's3') {
      s3 = await S3Server.start(['outputs']);
      Object.assign(storage, s3.env('outputs', { S3_PREFIX: 'rerun' }));
    }
    harness = await startTestApp({
      ...storage,
      PUBLIC_BASE_URL,
      API_KEYS: `${ALICE}:${KEYS[ALICE]},${BOB}:${KEYS[BOB]}`,
    });
    serve('/etag.jpg', { body: await photoJpeg(320, 240, 1), etag: '"e1"', lastModified: LAST_MODIFIED });
    serve('/last-modified.jpg', { body: await photoJpeg(320, 240, 2), etag: null, lastModified: LAST_MODIFIED });
    serve('/plain.jpg', { body: await photoJpeg(320, 240, 3), etag: null, lastModified: null });
    serve('/changing.jpg', { body: await photoJpeg(320, 240, 4), etag: '"c1"', lastModified: null });
    serve('/no-store.jpg', {
      body: await photoJpeg(320, 240, 5),
      etag: '"n1"',
      lastModified: null,
      cacheControl: 'no-store',
    });

    first = await upload(ALICE);
    expect(await finished(ALICE, first)).toMatchObject({ status: 'completed' });
    firstOutputs = await outputs(ALICE, first);

    // The supplier replaces one file overnight: new bytes, new ETag.
    sources.set('/changing.jpg', { body: await photoJpeg(320, 240, 6), etag: '"c2"', lastModified: null });
    beforeSecond = snapshot();
    second = await upload(ALICE);
    secondStatus = await finished(ALICE, second);
    secondOutputs = await outputs(ALICE, second);
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
    await images?.close();
    await s3?.close();
  });

  it('fetches and encodes everything on a first run', async () => {
    const status = (await get(ALICE, `/api/v1/requests/${first}`)).json<RequestStatusDto>();
    expect(status.counts.images).toMatchObject({ succeeded: 5, fetched: 5, revalidated: 0, reused: 0 });
    expect(status.options.reuse).toBe(true);
    // Counted before the second upload, which beforeAll also made.
    for (const path of PATHS) {
      expect(beforeSecond.hits.get(path)).toBe(1);
      expect(beforeSecond.conditional.get(path) ?? 0).toBe(0);
    }
  });

  it('a re-run asks conditionally for every URL seen before and copies what a 304 vouches for', async () => {
    expect(secondStatus).toMatchObject({ status: 'completed' });
    expect(secondStatus.counts.images).toMatchObject({ succeeded: 5, revalidated: 2, reused: 1, fetched: 2 });
    expect(since(beforeSecond, '/etag.jpg')).toEqual({ requests: 1, conditional: 1, notModified: 1 });
    expect(since(beforeSecond, '/last-modified.jpg')).toEqual({ requests: 1, conditional: 1, notModified: 1 });
    expect(await obtained(ALICE, second)).toEqual({
      '/etag.jpg': 'revalidated',
      '/last-modified.jpg': 'revalidated',
      '/plain.jpg': 'reused',
      '/changing.jpg': 'fetched',
      '/no-store.jpg': 'fetched',
    });
  });

  it('counts copies apart in the metrics: by how they were obtained, out of the encode durations', async () => {
    // This app's registry, after the first run (5 encoded) and the second (2 encoded, 3 copied).
    const text = (await harness.app.inject({ method: 'GET', url: '/metrics' })).body;
    const value = (line: RegExp) => Number(text.match(line)?.[1] ?? NaN);
    const processed = (obtained: string) =>
      value(
        new RegExp(
          `^pixbatch_images_processed_total\\{outcome="succeeded",code="",obtained="${obtained}"\\} (\\d+)`,
          'm',
        ),
      );
    expect(processed('fetched')).toBe(7);
    expect(processed('revalidated')).toBe(2);
    expect(processed('reused')).toBe(1);
    expect(value(/^pixbatch_image_processing_seconds_count\{format="jpeg"\} (\d+)/m)).toBe(7);
  });

  it('unchanged outputs are byte-identical to the first run’s, each under the new request’s own key', async () => {
    for (const path of ['/etag.jpg', '/last-modified.jpg', '/plain.jpg', '/no-store.jpg']) {
      expect(sha256(secondOutputs.get(path)!)).toBe(sha256(firstOutputs.get(path)!));
    }
    const firstPage = (await get(ALICE, `/api/v1/requests/${first}/products`)).json<ProductPageDto>();
    const secondPage = (await get(ALICE, `/api/v1/requests/${second}/products`)).json<ProductPageDto>();
    const folder = (url: string) => url.split('/').slice(-2, -1)[0];
    expect(folder(secondPage.items[0].images[0].outputUrl!)).not.toBe(folder(firstPage.items[0].images[0].outputUrl!));
  });

  it('a server with no validators: the full download’s hash still saves the encode', () => {
    expect(since(beforeSecond, '/plain.jpg')).toEqual({ requests: 1, conditional: 0, notModified: 0 });
  });

  it('a changed file is fetched in full and re-processed: its output is new', () => {
    expect(since(beforeSecond, '/changing.jpg')).toEqual({ requests: 1, conditional: 1, notModified: 0 });
    expect(sha256(secondOutputs.get('/changing.jpg')!)).not.toBe(sha256(firstOutputs.get('/changing.jpg')!));
  });

  it('honours Cache-Control: no-store: nothing remembered, so no conditional request', () => {
    expect(since(beforeSecond, '/no-store.jpg')).toEqual({ requests: 1, conditional: 0, notModified: 0 });
  });

  it('another tenant’s same CSV fetches everything: nothing is shared between tenants', async () => {
    const before = snapshot();
    const bobs = await upload(BOB);
    expect((await finished(BOB, bobs)).counts.images).toMatchObject({ succeeded: 5, fetched: 5 });
    for (const path of PATHS) expect(since(before, path)).toEqual({ requests: 1, conditional: 0, notModified: 0 });
  });

  it('reuse=false fetches and encodes everything, with no conditional request', async () => {
    const before = snapshot();
    const plain = await upload(ALICE, { reuse: 'false' });
    const status = await finished(ALICE, plain);
    expect(status.counts.images).toMatchObject({ succeeded: 5, fetched: 5, revalidated: 0, reused: 0 });
    expect(status.options.reuse).toBe(false);
    for (const path of PATHS) expect(since(before, path)).toEqual({ requests: 1, conditional: 0, notModified: 0 });
  });

  it('refuses a reuse that is not true or false with a problem document', async () => {
    const response = await post(ALICE, { reuse: 'yes' }, csv());
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'reuse' }] });
  });

  it('reuse enters the idempotency fingerprint only when false', async () => {
    const key = { 'idempotency-key': `rerun-${driver}-${suffix}` };
    const body = csv(['/etag.jpg']);
    const created = await post(ALICE, {}, body, key);
    expect(created.statusCode).toBe(202);
    const sameWithTrue = await post(ALICE, { reuse: 'true' }, body, key);
    expect(sameWithTrue.json<CreatedRequestDto>().requestId).toBe(created.json<CreatedRequestDto>().requestId);
    const withFalse = await post(ALICE, { reuse: 'false' }, body, key);
    expect(withFalse.statusCode).toBe(409);
    expect(withFalse.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    await finished(ALICE, created.json<CreatedRequestDto>().requestId);
  });

  it('deleting the first request leaves the second’s outputs downloadable, and they stay reusable', async () => {
    expect(
      (
        await harness.app.inject({
          method: 'DELETE',
          url: `/api/v1/requests/${first}`,
          headers: { 'x-api-key': KEYS[ALICE] },
        })
      ).statusCode,
    ).toBe(204);

    const after = await outputs(ALICE, second);
    for (const path of PATHS) expect(sha256(after.get(path)!)).toBe(sha256(secondOutputs.get(path)!));

    const before = snapshot();
    const third = await upload(ALICE);
    const status = await finished(ALICE, third);
    expect(status.counts.images).toMatchObject({ succeeded: 5, revalidated: 3, reused: 1, fetched: 1 });
    expect(since(before, '/changing.jpg')).toEqual({ requests: 1, conditional: 1, notModified: 1 });
  });

  it('a retry after a partial failure reuses what succeeded and fetches what failed', async () => {
    const paths = ['/etag.jpg', '/later.jpg'];
    let available = false;
    const laterBody = await photoJpeg(320, 240, 7);
    images.route('/later.jpg', () =>
      available
        ? { body: laterBody, type: 'image/jpeg', headers: { etag: '"l1"' } }
        : { status: 404, type: 'text/plain', body: 'not yet' },
    );
    const partial = await upload(ALICE, {}, csv(paths));
    expect((await finished(ALICE, partial)).counts.images).toMatchObject({ succeeded: 1, failed: 1, revalidated: 1 });

    // The retry reopens only the failure: what succeeded is neither asked for nor counted again.
    available = true;
    const beforeRetry = snapshot();
    const laterHits = hits('/later.jpg');
    const retried = await harness.app.inject({
      method: 'POST',
      url: `/api/v1/requests/${partial}/retry`,
      headers: { 'x-api-key': KEYS[ALICE] },
    });
    expect(retried.statusCode).toBe(202);
    await waitUntil('the retry to finish', async () => {
      const status = (await get(ALICE, `/api/v1/requests/${partial}`)).json<RequestStatusDto>();
      return status.completed && status.round === 1;
    });
    expect((await get(ALICE, `/api/v1/requests/${partial}`)).json<RequestStatusDto>().counts.images).toMatchObject({
      succeeded: 2,
      failed: 0,
      revalidated: 1,
      fetched: 1,
    });
    expect(since(beforeRetry, '/etag.jpg').requests).toBe(0);
    expect(hits('/later.jpg')).toBe(laterHits + 1);

    // Uploaded again: the image the retry fetched is remembered too (no validator: its hash decides).
    const before = snapshot();
    const again = await upload(ALICE, {}, csv(paths));
    expect((await finished(ALICE, again)).counts.images).toMatchObject({ succeeded: 2, revalidated: 1, reused: 1 });
    expect(since(before, '/etag.jpg')).toEqual({ requests: 1, conditional: 1, notModified: 1 });
  });

  it('an output whose file vanished is forgotten and its image fetched in full, without failing', async () => {
    const body = csv(['/etag.jpg']);
    const holder = await upload(ALICE, {}, body);
    expect((await finished(ALICE, holder)).counts.images).toMatchObject({ revalidated: 1 });
    const page = (await get(ALICE, `/api/v1/requests/${holder}/products`)).json<ProductPageDto>();
    const key = page.items[0].images[0].outputUrl!.slice(`${PUBLIC_BASE_URL}/files/`.length);
    await harness.app.get(StorageDriver).delete(key);

    const before = snapshot();
    const refetched = await upload(ALICE, {}, body);
    expect(await finished(ALICE, refetched)).toMatchObject({
      status: 'completed',
      counts: { images: { succeeded: 1, fetched: 1, revalidated: 0 } },
    });
    // The conditional request found the copy gone; a plain one then brought the bytes.
    expect(since(before, '/etag.jpg')).toEqual({ requests: 2, conditional: 1, notModified: 1 });

    const next = await upload(ALICE, {}, body);
    expect((await finished(ALICE, next)).counts.images).toMatchObject({ revalidated: 1 });
  });
});
