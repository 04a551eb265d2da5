import { Redis } from 'ioredis';
import type { CreatedRequestDto, RequestStatusDto } from '../../src/requests/dto/request-status.dto.js';
import { productCsv } from '../factories/csv.factory.js';
import { ImageServer } from '../support/image-server.js';
import { expectCountedOnce } from '../support/request-ledger.js';
import { TestApp, multipart, startTestApp } from '../support/test-app.js';
import { TEST_DATABASE_URL } from '../support/test-database.js';
import { waitUntil } from '../support/wait-until.js';

const KEYS = { alice: 'alice-key-0123456789', bob: 'bob-key-0123456789ab' };

/**
 * The dispatcher shares the workers fairly and keeps work in PostgreSQL:
 * chunks go round-robin to the tenant served longest ago, then to that
 * tenant's request served longest ago; a request sent behind a big one is
 * served at the next refill; and a Redis that loses the queued chunks loses
 * no image. Order is asserted, not timing: the image server records the
 * order of the fetches, which with one lane and one image per chunk is the
 * order in which the dispatcher handed the images out.
 */
describe('Scheduling: fair dispatch from PostgreSQL', () => {
  let images: ImageServer;

  beforeAll(async () => {
    images = await ImageServer.start();
  });

  afterAll(async () => {
    await images?.close();
  });

  /** Routes `count` distinct image paths under `/prefix/`, each answered with a photo. */
  function routes(prefix: string, count: number, extra: { delayMs?: number } = {}): string[] {
    return Array.from({ length: count }, (_, index) => {
      const path = `/${prefix}/${index}.jpg`;
      images.route(path, { body: images.images.get('/photo.jpg'), type: 'image/jpeg', ...extra });
      return path;
    });
  }

  async function upload(harness: TestApp, paths: string[], key?: string): Promise<string> {
    const csv = productCsv(paths.map((path, index) => ({ serial: index + 1, name: path, urls: [images.url(path)] })));
    const body = multipart({}, { content: csv });
    const response = await harness.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      payload: body.payload,
      headers: { ...body.headers, ...(key ? { 'x-api-key': key } : {}) },
    });
    expect(response.statusCode).toBe(202);
    return response.json<CreatedRequestDto>().requestId;
  }

  async function status(harness: TestApp, requestId: string, key?: string): Promise<RequestStatusDto> {
    const response = await harness.app.inject({
      method: 'GET',
      url: `/api/v1/requests/${requestId}`,
      headers: key ? { 'x-api-key': key } : {},
    });
    return response.json<RequestStatusDto>();
  }

  describe('with one lane and one image per chunk', () => {
    let harness: TestApp;

    beforeAll(async () => {
      harness = await startTestApp({
        API_KEYS: `alice:${KEYS.alice},bob:${KEYS.bob}`,
        WORKER_CONCURRENCY: '1',
        CHUNK_SIZE: '1',
      });
    });

    afterAll(async () => {
      await harness?.close();
    });

    it('serves the tenant served longest ago, then its request served longest ago', async () => {
      let release!: () => void;
      const hold = new Promise<void>((resolve) => (release = resolve));
      const a1 = routes('a1', 12);
      const a2 = routes('a2', 12);
      const b1 = routes('b1', 12);
      // alice's first image is held until every request is stored, so the
      // order below is decided by the dispatcher alone.
      images.route(a1[0], { body: images.images.get('/photo.jpg'), type: 'image/jpeg', hold });
      const first = images.nextRequest(a1[0]);
      const ids = [await upload(harness, a1, KEYS.alice)];
      await first;
      ids.push(await upload(harness, a2, KEYS.alice), await upload(harness, b1, KEYS.bob));
      release();
      for (const [index, id] of ids.entries()) {
        const key = index < 2 ? KEYS.alice : KEYS.bob;
        await waitUntil(
          `request ${index + 1} to finish`,
          async () => (await status(harness, id, key)).completed,
          60_000,
        );
        expect((await status(harness, id, key)).status).toBe('completed');
      }

      const order = images.requested.filter((path) => /^\/(a1|a2|b1)\//.test(path)).map((path) => path.split('/')[1]);
      // The window (two chunks per lane) held alice's first two images before the others existed.
      expect(order.slice(0, 2)).toEqual(['a1', 'a1']);
      // Then bob, never served, and alice in turn; alice's turns alternate
      // between her two requests, the one never served first.
      expect(order.slice(2, 18)).toEqual(Array(4).fill(['b1', 'a2', 'b1', 'a1']).flat());
      // Within a request, file order.
      expect(images.requested.filter((path) => path.startsWith('/b1/'))).toEqual(b1);
    });
  });

  describe('with the default lanes and chunks', () => {
    let harness: TestApp;

    beforeAll(async () => {
      harness = await startTestApp({ JOB_LOCK_MS: '2000' });
    });

    afterAll(async () => {
      await harness?.close();
    });

    it('finishes a small request sent behind a big one long before the big one', async () => {
      const big = await upload(harness, routes('big', 480, { delayMs: 40 }));
      await waitUntil(
        'the big request to be under way',
        async () => (await status(harness, big)).counts.images.succeeded > 0,
      );
      const small = await upload(harness, routes('small', 3));
      await waitUntil('the small request to finish', async () => (await status(harness, small)).completed, 60_000);

      const bigNow = await status(harness, big);
      expect((await status(harness, small)).status).toBe('completed');
      // The small one waited for the chunks already queued, not for the big request: the
      // window (two chunks of 16 per lane, 128 images with 4 lanes) and the chunks leased
      // before its turn came are a fraction of the big one's 480.
      expect(bigNow.completed).toBe(false);
      expect(bigNow.counts.images.pending).toBeGreaterThan(200);
      await waitUntil('the big request to finish', async () => (await status(harness, big)).completed, 120_000);
      expect((await status(harness, big)).status).toBe('completed');
    });

    it('loses and double-counts nothing when Redis loses the queue mid-batch', async () => {
      const requestId = await upload(harness, routes('flush', 60, { delayMs: 30 }));
      await waitUntil(
        'the batch to be under way',
        async () => (await status(harness, requestId)).counts.images.succeeded >= 5,
      );
      // Every key of this deployment: waiting and active chunk jobs, their locks, the queue's state.
      const redis = new Redis(harness.config.redisUrl);
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${harness.config.queuePrefix}:*`, 'COUNT', 1000);
          if (keys.length) await redis.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
      expect((await status(harness, requestId)).completed).toBe(false);

      await waitUntil('the batch to finish', async () => (await status(harness, requestId)).completed, 60_000);
      await expectCountedOnce(TEST_DATABASE_URL, harness.config.storageDir, requestId);
    });
  });
});
