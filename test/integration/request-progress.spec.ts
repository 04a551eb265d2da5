import { text } from 'node:stream/consumers';
import { MikroORM } from '@mikro-orm/postgresql';
import { parse } from 'csv-parse/sync';
import { loadConfig } from '../../src/config/app-config.js';
import { prepareDatabase } from '../../src/database/prepare-database.js';
import { ormOptions } from '../../src/database/orm-options.js';
import { ENTITIES } from '../../src/entities.js';
import { ExportService } from '../../src/export/export.service.js';
import { ImageStatus } from '../../src/products/image-status.js';
import { ImageRepository } from '../../src/products/image.repository.js';
import { ProductRepository } from '../../src/products/product.repository.js';
import type { JobQueue } from '../../src/queue/job-queue.service.js';
import { RequestFinalizer } from '../../src/requests/request-finalizer.service.js';
import { RequestRepository } from '../../src/requests/request.repository.js';
import { PublicUrls } from '../../src/storage/public-urls.js';
import { RetrySchedule } from '../../src/webhooks/retry-schedule.js';
import { WebhookDeliveryRepository } from '../../src/webhooks/webhook-delivery.repository.js';
import { WebhookOutbox } from '../../src/webhooks/webhook-outbox.service.js';
import { seedRequest } from '../factories/request.factory.js';
import { TEST_DATABASE_URL } from '../support/test-database.js';

const success = {
  status: ImageStatus.Succeeded,
  outputKey: 'images/x/y.jpg',
  format: 'jpeg',
  bytesIn: 1000,
  bytesOut: 400,
  width: 10,
  height: 10,
} as const;

/**
 * BullMQ delivers a job at least once, so the same image can be finished by
 * two deliveries at the same moment. These run the guarded transitions
 * concurrently on the real PostgreSQL and check that nothing is counted twice.
 */
describe('RequestProgressRepository and RequestFinalizer on PostgreSQL', () => {
  let orm: MikroORM;
  let progress: ImageRepository;
  let finalizer: RequestFinalizer;
  let exporter: ExportService;

  beforeAll(async () => {
    await prepareDatabase(TEST_DATABASE_URL);
    orm = await MikroORM.init(ormOptions(TEST_DATABASE_URL, ENTITIES));
    progress = new ImageRepository(orm.em);
    const config = loadConfig({ DATABASE_URL: TEST_DATABASE_URL, PUBLIC_BASE_URL: 'http://cdn.test' });
    // The seeded requests have no webhook, so the outbox never reaches for the queue.
    const urls = new PublicUrls(config);
    const outbox = new WebhookOutbox(
      urls,
      null as unknown as JobQueue,
      new RetrySchedule(config.webhooks.retryDelaysMs),
      new WebhookDeliveryRepository(orm.em),
    );
    finalizer = new RequestFinalizer(orm.em, new RequestRepository(orm.em), outbox);
    exporter = new ExportService(new ProductRepository(orm.em), urls);
  });

  afterAll(async () => {
    await orm?.close(true);
  });

  /** The export as the API streams it, read from the database after finalize. */
  async function exported(requestId: string): Promise<string[][]> {
    return parse(await text(exporter.resultCsv(requestId, ['S. No.', 'Product Name', 'Input Image Urls'], ',')), {
      bom: true,
    });
  }

  async function counters(requestId: string) {
    const [row] = await orm.em
      .fork()
      .execute<{ images_succeeded: number; images_failed: number; products_processed: number; status: string }[]>(
        'SELECT images_succeeded, images_failed, products_processed, status FROM processing_request WHERE id = ?',
        [requestId],
      );
    return row;
  }

  it('counts an image once when ten deliveries record it at the same time', async () => {
    const { requestId, imageIds } = await seedRequest(orm.em.fork(), [2]);
    const image = imageIds[0][0];
    await progress.claimImage(image);
    const results = await Promise.all(Array.from({ length: 10 }, () => progress.recordOutcome(image, success)));
    expect(results.filter((result) => result.counted)).toHaveLength(1);
    expect(await counters(requestId)).toMatchObject({ images_succeeded: 1, images_failed: 0, products_processed: 0 });
  });

  it('reports the request done exactly once when its last images finish together', async () => {
    const { requestId, imageIds } = await seedRequest(orm.em.fork(), [2, 1]);
    const all = imageIds.flat();
    const results = await Promise.all(
      all.map((image, index) =>
        progress.recordOutcome(
          image,
          index === 1
            ? { status: ImageStatus.Failed, errorCode: 'HTTP_404', errorMessage: 'The server answered 404' }
            : success,
        ),
      ),
    );
    expect(results.filter((result) => result.counted)).toHaveLength(3);
    expect(results.filter((result) => result.requestDone)).toHaveLength(1);
    expect(await counters(requestId)).toMatchObject({ images_succeeded: 2, images_failed: 1, products_processed: 2 });
  });

  it('does not restart an image that already reached a terminal state', async () => {
    const { imageIds } = await seedRequest(orm.em.fork(), [1]);
    const image = imageIds[0][0];
    expect(await progress.claimImage(image)).toMatchObject({ alreadyTerminal: false, requestDone: false });
    await progress.recordOutcome(image, success);
    expect(await progress.claimImage(image)).toMatchObject({ alreadyTerminal: true, requestDone: true });
    const [row] = await orm.em
      .fork()
      .execute<{ status: string; attempts: number }[]>('SELECT status, attempts FROM image WHERE id = ?', [image]);
    expect(row).toEqual({ status: 'succeeded', attempts: 1 });
  });

  /** Makes the given images repeat the URL of `source`, as the ingest marks them. */
  async function repeat(source: string, copies: string[]): Promise<void> {
    await orm.em
      .fork()
      .execute(
        `UPDATE image SET source_image_id = ?, input_url = (SELECT input_url FROM image WHERE id = ?) WHERE id IN (?, ?)`,
        [source, source, copies[0], copies[1] ?? copies[0]],
      );
  }

  async function images(requestId: string) {
    return orm.em
      .fork()
      .execute<{ status: string; output_key: string | null; error_code: string | null; width: number | null }[]>(
        `SELECT i.status, i.output_key, i.error_code, i.width FROM image i JOIN product p ON p.id = i.product_id
        WHERE i.request_id = ? ORDER BY p.row_number, i.position`,
        [requestId],
      );
  }

  it("gives a repeated URL its first occurrence's success, in the same and in another product, counted once", async () => {
    const { requestId, imageIds } = await seedRequest(orm.em.fork(), [2, 1]);
    const [first, sameProduct] = imageIds[0];
    const otherProduct = imageIds[1][0];
    await repeat(first, [sameProduct, otherProduct]);
    const results = await Promise.all(Array.from({ length: 10 }, () => progress.recordOutcome(first, success)));
    expect(results.filter((result) => result.counted)).toEqual([{ counted: true, requestDone: true }]);
    expect(await counters(requestId)).toMatchObject({ images_succeeded: 3, images_failed: 0, products_processed: 2 });
    expect(await images(requestId)).toEqual(
      Array.from({ length: 3 }, () => ({
        status: 'succeeded',
        output_key: success.outputKey,
        error_code: null,
        width: 10,
      })),
    );
    const [products] = await orm.em
      .fork()
      .execute<{ done: number[] }[]>(
        'SELECT array_agg(images_done ORDER BY row_number) AS done FROM product WHERE request_id = ?',
        [requestId],
      );
    expect(products.done).toEqual([2, 1]);
  });

  it("gives a repeated URL its first occurrence's failure, and exports it on every row", async () => {
    const { requestId, imageIds } = await seedRequest(orm.em.fork(), [1, 2]);
    const [first] = imageIds[0];
    const [other, copy] = imageIds[1];
    await repeat(first, [copy]);
    await progress.recordOutcome(other, { ...success, outputKey: `images/${requestId}/other.jpg` });
    const failed = await progress.recordOutcome(first, {
      status: ImageStatus.Failed,
      errorCode: 'HTTP_404',
      errorMessage: 'gone',
    });
    expect(failed).toEqual({ counted: true, requestDone: true });
    expect(
      await progress.recordOutcome(first, { status: ImageStatus.Failed, errorCode: 'HTTP_404', errorMessage: 'gone' }),
    ).toEqual({
      counted: false,
      requestDone: true,
    });
    expect(await counters(requestId)).toMatchObject({ images_succeeded: 1, images_failed: 2, products_processed: 2 });
    expect((await images(requestId)).map((image) => image.error_code)).toEqual(['HTTP_404', null, 'HTTP_404']);

    expect(await finalizer.finalize(requestId)).toBe('completed_with_errors');
    const rows = await exported(requestId);
    expect(rows[1][3]).toBe('');
    expect(rows[2][3]).toBe(`http://cdn.test/files/images/${requestId}/other.jpg,`);
    expect(rows[2][4]).toBe('http://images.test/0/0.jpg -> HTTP_404: gone');
  });

  it('finalizes once when two finalize jobs run together, with output URLs aligned to inputs', async () => {
    const { requestId, imageIds } = await seedRequest(orm.em.fork(), [3]);
    const [first, second, third] = imageIds[0];
    await progress.recordOutcome(first, { ...success, outputKey: `images/${requestId}/a.jpg` });
    await progress.recordOutcome(second, {
      status: ImageStatus.Failed,
      errorCode: 'NOT_AN_IMAGE',
      errorMessage: 'HTML',
    });
    await progress.recordOutcome(third, { ...success, outputKey: `images/${requestId}/c.jpg` });

    const outcomes = await Promise.all([finalizer.finalize(requestId), finalizer.finalize(requestId)]);
    expect(outcomes.filter((status) => status !== null)).toEqual(['completed_with_errors']);
    expect(await counters(requestId)).toMatchObject({ status: 'completed_with_errors' });

    const rows = await exported(requestId);
    expect(rows[1][3]).toBe(
      `http://cdn.test/files/images/${requestId}/a.jpg,,http://cdn.test/files/images/${requestId}/c.jpg`,
    );
    expect(rows[1][4]).toBe('http://images.test/0/1.jpg -> NOT_AN_IMAGE: HTML');
  });

  it('derives output URLs from the stored keys when exported, so a new base URL applies to finished requests', async () => {
    const { requestId, imageIds } = await seedRequest(orm.em.fork(), [2]);
    const [first, second] = imageIds[0];
    await progress.recordOutcome(first, { ...success, outputKey: `images/${requestId}/a.jpg` });
    await progress.recordOutcome(second, { ...success, outputKey: `images/${requestId}/b.jpg` });
    expect(await finalizer.finalize(requestId)).toBe('completed');

    const moved = loadConfig({ DATABASE_URL: TEST_DATABASE_URL, PUBLIC_BASE_URL: 'https://images.example' });
    const later = new ExportService(new ProductRepository(orm.em), new PublicUrls(moved));
    const rows: string[][] = parse(
      await text(later.resultCsv(requestId, ['S. No.', 'Product Name', 'Input Image Urls'], ',')),
      {
        bom: true,
      },
    );
    expect(rows[1][3]).toBe(
      `https://images.example/files/images/${requestId}/a.jpg,https://images.example/files/images/${requestId}/b.jpg`,
    );
    const [stored] = await orm.em.fork().execute<{ columns: string[] }[]>(
      `SELECT array_agg(column_name::text) AS columns FROM information_schema.columns
        WHERE table_name IN ('product', 'processing_request')
          AND column_name IN ('output_urls', 'input_urls', 'result_file_key')`,
    );
    expect(stored.columns).toBeNull();
  });

  it('does not finalize a request that still has open images', async () => {
    const { requestId, imageIds } = await seedRequest(orm.em.fork(), [2]);
    await progress.recordOutcome(imageIds[0][0], success);
    expect(await finalizer.finalize(requestId)).toBeNull();
    expect(await counters(requestId)).toMatchObject({ status: 'pending' });
  });
});
