import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { MikroORM } from '@mikro-orm/postgresql';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import type { ProblemDocumentDto } from '../../src/common/problem-document.dto.js';
import { PreparedStatements } from '../../src/database/prepared-statements.js';
import { Dispatcher } from '../../src/processing/dispatcher.js';
import { ImageRetryPolicy } from '../../src/processing/image-retry-policy.js';
import { ImageDispatchRepository } from '../../src/products/image-dispatch.repository.js';
import { ImageWorkRepository } from '../../src/products/image-work.repository.js';
import { JobQueue } from '../../src/queue/job-queue.service.js';
import { QueueName } from '../../src/queue/queue.constants.js';
import type { CreatedRequestDto } from '../../src/requests/dto/request-status.dto.js';
import { OPEN_AFTER } from '../../src/uploads/request-draft.js';
import { productCsv } from '../factories/csv.factory.js';
import { scratchDatabaseUrl } from '../support/request-ledger.js';
import { dropDatabase } from '../support/test-database.js';
import { TestApp, multipart, startTestApp } from '../support/test-app.js';

const UPLOAD_TIMEOUT_MS = 1000;

/**
 * CSVs larger than one buffered chunk: stored while they are read, inside a
 * transaction that a rejection or a stalled client rolls back. API role only:
 * no dispatcher or worker runs, so the images wait in PostgreSQL to be
 * counted, and the tests run a dispatcher's pass themselves. A database of
 * the suite's own, so that the work a pass finds is this suite's alone.
 */
describe('ingest of CSVs larger than one chunk', () => {
  const databaseUrl = scratchDatabaseUrl('ingest');
  let harness: TestApp;
  let orm: MikroORM;
  let work: ImageWorkRepository;
  let dispatch: ImageDispatchRepository;
  let imageQueue: Queue;

  beforeAll(async () => {
    harness = await startTestApp({
      APP_ROLE: 'api',
      DATABASE_URL: databaseUrl,
      UPLOAD_TIMEOUT_MS: String(UPLOAD_TIMEOUT_MS),
      // Every URL here is on one host: more chunks out on it than a window holds, so that no pass waits on it.
      SOURCE_HOST_CONCURRENCY: '64',
    });
    orm = harness.app.get(MikroORM);
    work = harness.app.get(ImageWorkRepository);
    dispatch = harness.app.get(ImageDispatchRepository);
    imageQueue = harness.app.get<Queue>(getQueueToken(QueueName.Images));
  });

  afterAll(async () => {
    await harness?.close();
    await dropDatabase(databaseUrl);
  });

  /** A worker's dispatcher on this suite's deployment, with no worker to take the chunks it queues. */
  function dispatcher(): Dispatcher {
    const { config } = harness;
    return new Dispatcher(
      harness.app.get(PreparedStatements),
      dispatch,
      work,
      harness.app.get(JobQueue),
      new ImageRetryPolicy(config),
      config,
    );
  }

  async function count(sql: string, params: unknown[] = []): Promise<number> {
    const [row] = await orm.em.fork().execute<{ n: string }[]>(sql, params);
    return Number(row.n);
  }

  const requests = () => count('SELECT count(*) AS n FROM processing_request');
  const products = () => count('SELECT count(*) AS n FROM product');

  function rows(total: number) {
    return Array.from({ length: total }, (_, index) => ({
      serial: index + 1,
      name: `SKU ${index + 1}`,
      urls: [`http://images.invalid/${index}/a.jpg`, `http://images.invalid/${index}/b.jpg`],
    }));
  }

  function post(body: { payload: Buffer | Readable; headers: Record<string, string> }) {
    return harness.app.inject({ method: 'POST', url: '/api/v1/requests', ...body });
  }

  it('stores every product and image, each waiting once in PostgreSQL, and queues no more than a window', async () => {
    const total = OPEN_AFTER * 2 + 345;
    const response = await post(multipart({}, { content: productCsv(rows(total)) }));
    expect(response.statusCode).toBe(202);
    const { requestId, productCount, imageCount } = response.json<CreatedRequestDto>();
    expect({ productCount, imageCount }).toEqual({ productCount: total, imageCount: total * 2 });
    expect(await count('SELECT count(*) AS n FROM product WHERE request_id = ?', [requestId])).toBe(total);
    expect(await count('SELECT count(*) AS n FROM image WHERE request_id = ?', [requestId])).toBe(total * 2);
    // Row numbers, positions and URLs line up across chunk boundaries.
    const [last] = await orm.em.fork().execute<{ row_number: number; position: number; input_url: string }[]>(
      `SELECT p.row_number, i.position, i.input_url FROM image i JOIN product p ON p.id = i.product_id
        WHERE i.request_id = ? ORDER BY i.id DESC LIMIT 1`,
      [requestId],
    );
    expect(last).toEqual({ row_number: total, position: 1, input_url: `http://images.invalid/${total - 1}/b.jpg` });

    // Every image waits in PostgreSQL, once, to be dispatched; every URL is distinct, so none takes another's outcome.
    expect(
      await count(
        `SELECT count(*) AS n FROM image
          WHERE request_id = ? AND status = 'pending' AND chunk_id IS NULL AND source_image_id IS NULL`,
        [requestId],
      ),
    ).toBe(total * 2);
    expect(await dispatch.workDepth(harness.config.deployment)).toEqual({ dispatched: 0, waiting: total * 2 });
    // Committed is accepted: the upload queued no image work in Redis, whatever the request's size.
    expect(await imageQueue.getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized')).toBe(0);

    // A dispatcher's pass fills its window, two chunks per lane of the one worker it counts, and no more.
    const { workerConcurrency, chunkSize } = harness.config;
    const window = 2 * workerConcurrency;
    expect(await dispatcher().pass()).toBe(window);
    expect(await imageQueue.getJobCountByTypes('waiting')).toBe(window);
    expect(await dispatch.workDepth(harness.config.deployment)).toEqual({
      dispatched: window * chunkSize,
      waiting: total * 2 - window * chunkSize,
    });
    // The window is full until a worker takes a chunk: another pass queues nothing.
    expect(await dispatcher().pass()).toBe(0);
    expect(await imageQueue.getJobCountByTypes('waiting')).toBe(window);

    // Images go with their product when a request is deleted, with no foreign key of their own to the request.
    await orm.em.fork().execute('DELETE FROM processing_request WHERE id = ?', [requestId]);
    expect(await count('SELECT count(*) AS n FROM image WHERE request_id = ?', [requestId])).toBe(0);
  });

  it("spreads a request's last images over the lanes, counting those already in chunks as taken", async () => {
    await imageQueue.drain();
    const response = await post(multipart({}, { content: productCsv(rows(35)) }));
    expect(response.statusCode).toBe(202);
    const { requestId } = response.json<CreatedRequestDto>();
    const chunkSizes = async () => {
      const chunks = await orm.em
        .fork()
        .execute<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM image WHERE request_id = ? AND chunk_id IS NOT NULL GROUP BY chunk_id ORDER BY n DESC`,
          [requestId],
        );
      return chunks.map((chunk) => chunk.n);
    };
    // 70 images, chunks of 16 for 4 lanes: full while a chunk per lane waits, then the waiting over the lanes.
    expect({ chunkSize: harness.config.chunkSize, lanes: harness.config.workerConcurrency }).toEqual({
      chunkSize: 16,
      lanes: 4,
    });
    expect(await dispatcher().pass()).toBe(8);
    expect(await chunkSizes()).toEqual([16, 14, 10, 8, 6, 4, 3, 3]);
    // Its chunks gone from Redis but their leases held: the next pass counts 6 waiting, not 70.
    await imageQueue.drain();
    expect(await dispatcher().pass()).toBe(5);
    expect(await chunkSizes()).toEqual([16, 14, 10, 8, 6, 4, 3, 3, 2, 1, 1, 1, 1]);
    await imageQueue.drain();
    await orm.em.fork().execute('DELETE FROM processing_request WHERE id = ?', [requestId]);
  });

  it('dispatches each distinct URL once and points every repeat at its first occurrence, with no work of its own', async () => {
    const list = rows(OPEN_AFTER + 500);
    // The first row's URL again in a later chunk, and twice in the last row.
    const repeated = list[0].urls[0];
    list[OPEN_AFTER + 100].urls[1] = repeated;
    list[OPEN_AFTER + 499].urls = [repeated, repeated];
    const response = await post(multipart({}, { content: productCsv(list) }));
    expect(response.statusCode).toBe(202);
    const { requestId } = response.json<CreatedRequestDto>();
    const sources = await orm.em.fork().execute<{ row_number: number; position: number; source: string | null }[]>(
      `SELECT p.row_number, i.position, s.id AS source FROM image i JOIN product p ON p.id = i.product_id
         LEFT JOIN image s ON s.id = i.source_image_id
        WHERE i.request_id = ? AND i.input_url = ? ORDER BY p.row_number, i.position`,
      [requestId, repeated],
    );
    expect(sources[0]).toEqual({ row_number: 1, position: 0, source: null });
    const [firstImage] = await orm.em
      .fork()
      .execute<{ id: string }[]>(
        `SELECT i.id FROM image i JOIN product p ON p.id = i.product_id WHERE p.request_id = ? AND p.row_number = 1 AND i.position = 0`,
        [requestId],
      );
    const firstId = firstImage.id;
    expect(sources.slice(1)).toEqual([
      { row_number: OPEN_AFTER + 101, position: 1, source: firstId },
      { row_number: OPEN_AFTER + 500, position: 0, source: firstId },
      { row_number: OPEN_AFTER + 500, position: 1, source: firstId },
    ]);
    const distinct = (OPEN_AFTER + 500) * 2 - 3;
    // Everything dispatchable, leased as the dispatcher would (no one chunk is this large): the distinct URLs, each once.
    const { deployment, jobLockMs } = harness.config;
    const leased = await harness.app.get(PreparedStatements).transaction(async (tx) => {
      const chunk = { chunkId: randomUUID(), requestId, tenant: 'default', deployment };
      return dispatch.leaseNextChunk(tx, chunk, [], distinct + 10, jobLockMs);
    });
    expect(leased).toEqual({ host: 'images.invalid:80', images: distinct });
    expect(
      await count('SELECT count(*) AS n FROM image WHERE request_id = ? AND source_image_id IS NOT NULL', [requestId]),
    ).toBe(3);
    expect(
      await count(
        'SELECT count(*) AS n FROM image WHERE request_id = ? AND source_image_id IS NOT NULL AND chunk_id IS NOT NULL',
        [requestId],
      ),
    ).toBe(0);
    // The repeats stay pending without a chunk, and nothing is left to dispatch.
    expect(
      await harness.app
        .get(PreparedStatements)
        .transaction((tx) =>
          dispatch.leaseNextChunk(
            tx,
            { chunkId: randomUUID(), requestId, tenant: 'default', deployment },
            [],
            10,
            jobLockMs,
          ),
        ),
    ).toBeNull();
    expect(await dispatch.workDepth(harness.config.deployment)).toEqual({
      dispatched: distinct,
      waiting: (OPEN_AFTER + 500) * 2 - distinct,
    });
  });

  it('rejects a large CSV whose bad rows come after stored chunks, with every issue, and stores nothing', async () => {
    const before = { requests: await requests(), products: await products() };
    const list = rows(OPEN_AFTER * 2);
    list[OPEN_AFTER + 10].name = '';
    list[OPEN_AFTER * 2 - 1].serial = 1;
    const response = await post(multipart({}, { content: productCsv(list) }));
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({ code: 'CSV_INVALID', errorCount: 2 });
    expect(response.json<ProblemDocumentDto>().errors?.map((issue) => [issue.row, issue.code])).toEqual([
      [OPEN_AFTER + 11, 'MISSING_PRODUCT_NAME'],
      [OPEN_AFTER * 2, 'DUPLICATE_SERIAL_NUMBER'],
    ]);
    expect({ requests: await requests(), products: await products() }).toEqual(before);
  });

  it('applies option fields sent after the file part', async () => {
    const boundary = 'pixbatch-fields-last';
    const csv = productCsv(rows(OPEN_AFTER + 1));
    const payload = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="late.csv"\r\nContent-Type: text/csv\r\n\r\n` +
        `${csv}\r\n--${boundary}\r\nContent-Disposition: form-data; name="resize"\r\n\r\n0.5\r\n--${boundary}--\r\n`,
    );
    const response = await post({ payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    expect(response.statusCode).toBe(202);
    const [stored] = await orm.em
      .fork()
      .execute<{ options: unknown; original_filename: string; product_count: number }[]>(
        'SELECT options, original_filename, product_count FROM processing_request WHERE id = ?',
        [response.json<CreatedRequestDto>().requestId],
      );
    expect(stored).toEqual({
      options: { resize: 0.5, maxWidth: null, maxHeight: null, quality: 50, format: 'keep' },
      original_filename: 'late.csv',
      product_count: OPEN_AFTER + 1,
    });
  });

  it('rolls back and answers 408 when the rest of a large upload stalls', async () => {
    const before = { requests: await requests(), products: await products() };
    const { payload, headers } = multipart({}, { content: productCsv(rows(OPEN_AFTER * 2)) });
    // The first chunk's worth of rows, then nothing: a client that stopped sending.
    const stalled = new Readable({ read() {} });
    stalled.push(payload.subarray(0, Math.floor(payload.length * 0.75)));
    const started = Date.now();
    const response = await post({ payload: stalled, headers });
    expect(response.statusCode).toBe(408);
    expect(response.json()).toMatchObject({ code: 'UPLOAD_TIMEOUT', timeoutMs: UPLOAD_TIMEOUT_MS });
    expect(Date.now() - started).toBeLessThan(UPLOAD_TIMEOUT_MS + 5000);
    expect({ requests: await requests(), products: await products() }).toEqual(before);
    const idle = await count(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'`,
    );
    expect(idle).toBe(0);
    stalled.destroy();
  });
});
