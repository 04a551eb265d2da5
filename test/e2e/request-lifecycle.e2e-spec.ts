import { randomUUID } from 'node:crypto';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { EntityManager } from '@mikro-orm/postgresql';
import type { RequestListDto } from '../../src/requests/dto/request-list.dto.js';
import type { CreatedRequestDto, RequestStatusDto } from '../../src/requests/dto/request-status.dto.js';
import { RetentionSweeper } from '../../src/requests/retention.sweeper.js';
import { StorageDriver } from '../../src/storage/storage.driver.js';
import type { ProductPageDto } from '../../src/products/dto/product-page.dto.js';
import { imageKey, newPublicToken } from '../../src/storage/storage-keys.js';
import { productCsv } from '../factories/csv.factory.js';
import { seedRequest } from '../factories/request.factory.js';
import { ImageServer } from '../support/image-server.js';
import { TestApp, multipart, startTestApp } from '../support/test-app.js';
import { waitUntil } from '../support/wait-until.js';

// The suites share one database: a tenant of its own keeps this suite's list to its own rows.
const KEY = `lifecycle-${randomUUID().slice(0, 8)}`;
const TENANT = `t-${KEY}`;
const headers = { 'x-api-key': KEY };

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('Requests over their life: list, delete, retention', () => {
  let images: ImageServer;
  let api: TestApp;
  let em: EntityManager;

  beforeAll(async () => {
    images = await ImageServer.start();
    api = await startTestApp({ API_KEYS: `${TENANT}:${KEY}`, RETENTION_DAYS: '7' });
    em = api.app.get(EntityManager).fork();
  });

  afterAll(async () => {
    await em?.execute('DELETE FROM processing_request WHERE tenant = ?', [TENANT]);
    await api?.close();
    await images?.close();
  });

  const get = (url: string) => api.app.inject({ method: 'GET', url, headers });

  /** A request of this suite's tenant, straight into the tables. */
  async function seed(status: string, createdAt: string, completedAt: string | null = null): Promise<string> {
    const { requestId } = await seedRequest(em, [1]);
    await em.execute(
      'UPDATE processing_request SET tenant = ?, status = ?, created_at = ?, completed_at = ? WHERE id = ?',
      [TENANT, status, createdAt, completedAt, requestId],
    );
    return requestId;
  }

  describe('GET /api/v1/requests', () => {
    const ids: string[] = [];

    beforeAll(async () => {
      await em.execute('DELETE FROM processing_request WHERE tenant = ?', [TENANT]);
      // Oldest first; two share a timestamp down to the microsecond, so only the id orders them.
      ids.push(await seed('completed', '2026-01-01T00:00:00.000001Z', '2026-01-01T00:01:00Z'));
      ids.push(await seed('failed', '2026-01-02T00:00:00.000002Z', '2026-01-02T00:01:00Z'));
      ids.push(await seed('processing', '2026-01-03T00:00:00.000003Z'));
      ids.push(await seed('processing', '2026-01-03T00:00:00.000003Z'));
      ids.push(await seed('pending', '2026-01-04T00:00:00.000004Z'));
    });

    it('pages newest first without gaps or repeats, ties broken by id', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const response = await get(`/api/v1/requests?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(response.statusCode).toBe(200);
        const body = response.json<RequestListDto>();
        expect(body.items.length).toBeLessThanOrEqual(2);
        seen.push(...body.items.map((item: { requestId: string }) => item.requestId));
        cursor = body.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      const tied = ids.slice(2, 4).sort().reverse();
      expect(seen).toEqual([ids[4], ...tied, ids[1], ids[0]]);
      expect(pages).toBe(3);
    });

    it('counts what the filters match over every page, the same on each page', async () => {
      const total = async (query: string) => (await get(`/api/v1/requests?${query}`)).json<RequestListDto>().total;
      const first = (await get('/api/v1/requests?limit=2')).json<RequestListDto>();
      expect(first.total).toBe(5);
      expect(await total(`limit=2&cursor=${first.nextCursor}`)).toBe(5);
      expect(await total('status=processing')).toBe(2);
      expect(await total('status=completed,failed&limit=1')).toBe(2);
      expect(await total('createdAfter=2026-01-02T00:00:00Z&createdBefore=2026-01-03T00:00:00Z')).toBe(1);
      expect(await total('status=cancelled')).toBe(0);
    });

    it('gives each item the status summary', async () => {
      const body = (await get('/api/v1/requests?limit=1&status=failed')).json<RequestListDto>();
      expect(body.items).toEqual([
        {
          requestId: ids[1],
          status: 'failed',
          completed: true,
          originalFilename: 'seed.csv',
          counts: {
            products: { total: 1, processed: 0 },
            images: {
              total: 1,
              succeeded: 0,
              failed: 0,
              cancelled: 0,
              pending: 1,
              fetched: 0,
              revalidated: 0,
              reused: 0,
            },
          },
          percent: 0,
          round: 0,
          createdAt: '2026-01-02T00:00:00.000Z',
          startedAt: null,
          completedAt: '2026-01-02T00:01:00.000Z',
          links: {
            self: `/api/v1/requests/${ids[1]}`,
            products: `/api/v1/requests/${ids[1]}/products`,
            export: `/api/v1/requests/${ids[1]}/export`,
          },
        },
      ]);
      expect(body.nextCursor).toBeNull();
    });

    it('filters by several statuses and by creation time', async () => {
      const list = async (query: string) =>
        (await get(`/api/v1/requests?${query}`)).json<RequestListDto>().items.map((item) => item.requestId);
      expect(await list('status=completed&status=pending')).toEqual([ids[4], ids[0]]);
      expect(await list('status=completed,failed')).toEqual([ids[1], ids[0]]);
      expect(await list('createdAfter=2026-01-02T00:00:00Z&createdBefore=2026-01-03T00:00:00Z')).toEqual([ids[1]]);
      expect(await list('status=processing&createdAfter=2026-01-03T00:00:00Z')).toHaveLength(2);
    });

    it.each([
      ['limit=201', 'VALIDATION_FAILED'],
      ['limit=0', 'VALIDATION_FAILED'],
      ['status=done', 'VALIDATION_FAILED'],
      ['createdAfter=yesterday', 'VALIDATION_FAILED'],
      ['cursor=not-a-cursor', 'INVALID_CURSOR'],
      [
        `cursor=${Buffer.from(JSON.stringify(["2026-01-01'; --", randomUUID()])).toString('base64url')}`,
        'INVALID_CURSOR',
      ],
    ])('answers 400 with a problem document on %s', async (query, code) => {
      const response = await get(`/api/v1/requests?${query}`);
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.json()).toMatchObject({ status: 400, code });
    });
  });

  describe('DELETE /api/v1/requests/{id}', () => {
    it('removes a finished request, its rows and its output files; 404 afterwards', async () => {
      const csv = productCsv([{ serial: 1, name: 'SKU1', urls: [images.url('/photo.jpg'), images.url('/alpha.png')] }]);
      const body = multipart({}, { content: csv });
      const created = await api.app.inject({
        method: 'POST',
        url: '/api/v1/requests',
        payload: body.payload,
        headers: { ...body.headers, ...headers },
      });
      const { requestId } = created.json<CreatedRequestDto>();
      await waitUntil(
        'the request to finish',
        async () => (await get(`/api/v1/requests/${requestId}`)).json<RequestStatusDto>().completed,
        30_000,
      );
      const products = (await get(`/api/v1/requests/${requestId}/products`)).json<ProductPageDto>();
      const outputPath = new URL(products.items[0].images[0].outputUrl!).pathname;
      // The public folder is named by the request's token, which says nothing of its id.
      const [, token] = /^\/files\/images\/([0-9a-f]{32})\/[^/]+$/.exec(outputPath) ?? [];
      expect(token).toBeDefined();
      expect(outputPath).not.toContain(requestId);
      const folder = join(api.config.storageDir, 'images', token);
      expect(await readdir(folder)).toHaveLength(2);

      const deleted = await api.app.inject({ method: 'DELETE', url: `/api/v1/requests/${requestId}`, headers });
      expect(deleted.statusCode).toBe(204);

      expect(await exists(folder)).toBe(false);
      for (const table of ['processing_request', 'product', 'image', 'webhook_delivery']) {
        const column = table === 'processing_request' ? 'id' : 'request_id';
        const [row] = await em.execute<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = ?`, [
          requestId,
        ]);
        expect({ table, rows: row.n }).toEqual({ table, rows: 0 });
      }
      for (const url of [
        `/api/v1/requests/${requestId}`,
        `/api/v1/requests/${requestId}/products`,
        `/api/v1/requests/${requestId}/export`,
      ]) {
        expect((await get(url)).json()).toMatchObject({ status: 404, code: 'REQUEST_NOT_FOUND' });
      }
      const again = await api.app.inject({ method: 'DELETE', url: `/api/v1/requests/${requestId}`, headers });
      expect(again.json()).toMatchObject({ status: 404, code: 'REQUEST_NOT_FOUND' });
    });

    it('serves and removes the files of a request stored before tokens, under its id', async () => {
      const requestId = await seed('completed', new Date().toISOString(), new Date().toISOString());
      const key = `images/${requestId}/1-sku1-1.jpg`;
      await em.execute(`UPDATE image SET status = 'succeeded', output_key = ?, format = 'jpeg' WHERE request_id = ?`, [
        key,
        requestId,
      ]);
      await api.app.get(StorageDriver).put(key, Buffer.from('old layout'), { contentType: 'image/jpeg' });
      const products = (await get(`/api/v1/requests/${requestId}/products`)).json<ProductPageDto>();
      const outputPath = new URL(products.items[0].images[0].outputUrl!).pathname;
      expect(outputPath).toBe(`/files/${key}`);
      const served = await api.app.inject({ method: 'GET', url: outputPath });
      expect(served.statusCode).toBe(200);
      expect(served.body).toBe('old layout');

      const deleted = await api.app.inject({ method: 'DELETE', url: `/api/v1/requests/${requestId}`, headers });
      expect(deleted.statusCode).toBe(204);
      expect(await exists(join(api.config.storageDir, 'images', requestId))).toBe(false);
      expect((await api.app.inject({ method: 'GET', url: outputPath })).statusCode).toBe(404);
    });

    it('refuses a request still running with 409 and keeps it', async () => {
      const requestId = await seed('processing', new Date().toISOString());
      const response = await api.app.inject({ method: 'DELETE', url: `/api/v1/requests/${requestId}`, headers });
      expect(response.statusCode).toBe(409);
      expect(response.json()).toMatchObject({ code: 'REQUEST_NOT_FINISHED', requestStatus: 'processing' });
      expect((await get(`/api/v1/requests/${requestId}`)).statusCode).toBe(200);
    });

    it('answers 400 to a malformed id', async () => {
      const response = await api.app.inject({ method: 'DELETE', url: '/api/v1/requests/42', headers });
      expect(response.json()).toMatchObject({ status: 400, code: 'INVALID_ID' });
    });
  });

  describe('RETENTION_DAYS', () => {
    it('deletes requests finished longer ago, with their files, and keeps the rest', async () => {
      const day = 24 * 3600 * 1000;
      const ago = (days: number) => new Date(Date.now() - days * day).toISOString();
      const expired = await seed('completed', ago(12), ago(10));
      // One from before tokens, whose files are under its id.
      const expiredOld = await seed('failed', ago(12), ago(9));
      const recent = await seed('completed_with_errors', ago(12), ago(1));
      const running = await seed('processing', ago(30));
      const token = newPublicToken();
      await em.execute('UPDATE processing_request SET public_token = ? WHERE id = ?', [token, expired]);
      const storage = api.app.get(StorageDriver);
      const files = [
        imageKey({ id: expired, publicToken: token }, randomUUID(), 'jpg'),
        imageKey({ id: expiredOld, publicToken: null }, randomUUID(), 'jpg'),
      ];
      expect(files[0]).not.toContain(expired);
      for (const file of files) await storage.put(file, Buffer.from('x'), { contentType: 'image/jpeg' });

      await api.app.get(RetentionSweeper).sweep();

      for (const file of files) expect(await storage.head(file)).toBeNull();
      const left = await em.execute<{ id: string }[]>('SELECT id FROM processing_request WHERE id IN (?)', [
        [expired, expiredOld, recent, running],
      ]);
      expect(left.map((row) => row.id).sort()).toEqual([recent, running].sort());
    });
  });
});
