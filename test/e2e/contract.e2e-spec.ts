import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { ProblemDocumentDto } from '../../src/common/problem-document.dto.js';
import { QueueName } from '../../src/queue/queue.constants.js';
import type { CreatedRequestDto } from '../../src/requests/dto/request-status.dto.js';
import * as openapi from '../support/openapi.js';
import { TEST_REDIS_URL } from '../support/test-env.js';
import { multipart, startTestApp, TestApp } from '../support/test-app.js';

// The check route reads the same body the same way, so it answers the same.
const UPLOAD_ROUTES = ['/api/v1/requests', '/upload', '/api/upload', '/api/v1/requests/validate'];
const CSV = 'S. No.,Product Name,Input Image Urls\n1,SKU1,http://127.0.0.1:9/a.jpg\n';

/** A raw HTTP exchange over a real socket, for what Node's parser refuses before Fastify sees it. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

function bodyOf(raw: string): unknown {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
}

describe('Contract (issue 11)', () => {
  let harness: TestApp;

  beforeAll(async () => {
    harness = await startTestApp({ MAX_CSV_BYTES: '4096' });
  });

  afterAll(async () => {
    await harness?.close();
  });

  describe('item 1: malformed multipart bodies', () => {
    const good = multipart({}, { content: CSV });
    const boundary = good.headers['content-type'].split('boundary=')[1];
    const bodies: [string, Record<string, string>, Buffer][] = [
      ['no boundary', { 'content-type': 'multipart/form-data' }, good.payload],
      ['a wrong boundary', { 'content-type': 'multipart/form-data; boundary=somethingelse' }, good.payload],
      ['no closing boundary', good.headers, good.payload.subarray(0, good.payload.indexOf(`--${boundary}--`) - 10)],
    ];

    for (const route of UPLOAD_ROUTES) {
      for (const [name, headers, payload] of bodies) {
        it(`answers 400 MULTIPART_INVALID for ${name} on POST ${route}`, async () => {
          const response = await harness.app.inject({ method: 'POST', url: route, headers, payload });
          expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
          expect([response.statusCode, response.json<ProblemDocumentDto>().code]).toEqual([400, 'MULTIPART_INVALID']);
        });
      }
    }
  });

  describe('item 2: upload limits', () => {
    it('answers 413 CSV_TOO_LARGE, not a row error, when the limit cuts the CSV mid-row', async () => {
      const rows = Array.from({ length: 400 }, (_, n) => `${n + 1},SKU${n + 1},http://127.0.0.1:9/p/${n + 1}.jpg`);
      const csv = `S. No.,Product Name,Input Image Urls\n${rows.join('\n')}\n`;
      expect(csv.length).toBeGreaterThan(4096 * 3);
      for (let attempt = 0; attempt < 3; attempt++) {
        const response = await harness.app.inject({
          method: 'POST',
          url: '/api/v1/requests',
          ...multipart({}, { content: csv }),
        });
        expect([response.statusCode, response.json<ProblemDocumentDto>().code]).toEqual([413, 'CSV_TOO_LARGE']);
      }
    });

    it('answers 400 TOO_MANY_FILES for two file parts', async () => {
      const first = multipart({}, { content: CSV });
      const boundary = first.headers['content-type'].split('boundary=')[1];
      const second = Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="b.csv"\r\nContent-Type: text/csv\r\n\r\n${CSV}\r\n`,
      );
      const closing = first.payload.indexOf(`--${boundary}--`);
      const payload = Buffer.concat([first.payload.subarray(0, closing), second, first.payload.subarray(closing)]);
      const response = await harness.app.inject({
        method: 'POST',
        url: '/api/v1/requests',
        headers: first.headers,
        payload,
      });
      expect([response.statusCode, response.json<ProblemDocumentDto>().code]).toEqual([400, 'TOO_MANY_FILES']);
    });
  });

  describe('item 3: integer bounds', () => {
    it('answers 400 VALIDATION_FAILED, not 500, for a page past the bound', async () => {
      const created = await harness.app.inject({
        method: 'POST',
        url: '/api/v1/requests',
        ...multipart({}, { content: CSV }),
      });
      expect(created.statusCode).toBe(202);
      const { requestId } = created.json<CreatedRequestDto>();
      const response = await harness.app.inject({
        method: 'GET',
        url: `/api/v1/requests/${requestId}/products?page=200000000000000000`,
      });
      expect([response.statusCode, response.json<ProblemDocumentDto>().code]).toEqual([400, 'VALIDATION_FAILED']);
      const last = await harness.app.inject({
        method: 'GET',
        url: `/api/v1/requests/${requestId}/products?page=10000000`,
      });
      expect(last.statusCode).toBe(200);
    });

    it('declares the bound in the spec', async () => {
      const spec = (await harness.app.inject({ method: 'GET', url: '/docs-json' })).json<openapi.OpenAPIObject>();
      const page = openapi.parameter(openapi.operation(spec, 'get', '/api/v1/requests/{id}/products'), 'page');
      expect(page.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 10_000_000 });
    });
  });

  describe('item 4: framework-level refusals', () => {
    it('answers 414 with a problem document that does not echo the path', async () => {
      const id = 'x'.repeat(150);
      const response = await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${id}` });
      expect(response.statusCode).toBe(414);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json()).toMatchObject({ status: 414, code: 'URI_TOO_LONG' });
      expect(response.body).not.toContain(id);
    });

    it('answers 405 with Allow for a method a path does not support', async () => {
      const collection = await harness.app.inject({ method: 'DELETE', url: '/api/v1/requests' });
      expect([collection.statusCode, collection.json<ProblemDocumentDto>().code]).toEqual([405, 'METHOD_NOT_ALLOWED']);
      expect(String(collection.headers.allow).split(', ')).toContain('POST');
      expect(String(collection.headers.allow).split(', ')).not.toContain('DELETE');
      const one = await harness.app.inject({
        method: 'PUT',
        url: '/api/v1/requests/3f2b1c4e-8d9a-4b7c-9e1f-2a3b4c5d6e7f',
      });
      expect(one.statusCode).toBe(405);
      expect(String(one.headers.allow).split(', ')).toEqual(expect.arrayContaining(['GET', 'HEAD']));
      const unknown = await harness.app.inject({ method: 'GET', url: '/api/v1/nothing-here' });
      expect([unknown.statusCode, unknown.json<ProblemDocumentDto>().code]).toEqual([404, 'NOT_FOUND']);
    });

    describe('over a real socket', () => {
      let port: number;

      beforeAll(async () => {
        await harness.app.listen(0, '127.0.0.1');
        port = (harness.app.getHttpServer().address() as { port: number }).port;
      });

      it('answers 431 with a problem document when the headers exceed 16 KB', async () => {
        const raw = await rawExchange(
          port,
          `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
        );
        expect(raw).toMatch(/^HTTP\/1\.1 431 /);
        expect(raw).toMatch(/content-type: application\/problem\+json/i);
        expect(bodyOf(raw)).toMatchObject({ status: 431, code: 'HEADERS_TOO_LARGE' });
        expect(raw).not.toContain('aaaa');
      });

      it('answers 431 as a problem document for a query string over 16 KB', async () => {
        const status = await new Promise<number>((resolve, reject) => {
          const request = httpRequest(
            { port, host: '127.0.0.1', path: `/api/v1/requests?q=${'b'.repeat(20_000)}` },
            (response) => {
              expect(response.headers['content-type']).toBe('application/problem+json');
              response.resume();
              resolve(response.statusCode!);
            },
          );
          request.on('error', reject);
          request.end();
        });
        expect(status).toBe(431);
      });
    });
  });

  describe('item 9: metrics count only this deployment’s workers', () => {
    it('ignores workers of the same queue in another Redis database', async () => {
      const workers = async () => {
        const metrics = (await harness.app.inject({ method: 'GET', url: '/metrics' })).body;
        return Number(/^pixbatch_image_workers (\d+)$/m.exec(metrics)?.[1]);
      };
      const own = await workers();
      expect(own).toBeGreaterThanOrEqual(1);
      const otherDb = new URL(TEST_REDIS_URL);
      otherDb.pathname = otherDb.pathname === '/14' ? '/13' : '/14';
      const connection = new Redis(otherDb.toString(), { maxRetriesPerRequest: null });
      const stranger = new Worker(QueueName.Images, () => Promise.resolve(undefined), {
        connection,
        prefix: harness.config.queuePrefix,
        autorun: true,
      });
      try {
        await stranger.waitUntilReady();
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(await workers()).toBe(own);
      } finally {
        await stranger.close();
        connection.disconnect();
      }
    });
  });
});
