import { randomUUID } from 'node:crypto';
import { text } from 'node:stream/consumers';
import { type EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { parse } from 'csv-parse/sync';
import { loadConfig } from '../../src/config/app-config.js';
import { prepareDatabase } from '../../src/database/prepare-database.js';
import { ormOptions } from '../../src/database/orm-options.js';
import { PreparedStatements } from '../../src/database/prepared-statements.js';
import { ENTITIES } from '../../src/entities.js';
import { ExportService } from '../../src/export/export.service.js';
import { ImageObtained } from '../../src/products/image-obtained.js';
import { ImageStatus } from '../../src/products/image-status.js';
import { ImageDispatchRepository } from '../../src/products/image-dispatch.repository.js';
import { type ImageOutcome, ImageWorkRepository } from '../../src/products/image-work.repository.js';
import { ProductRepository } from '../../src/products/product.repository.js';
import type { JobQueue } from '../../src/queue/job-queue.service.js';
import { RequestFinalizer } from '../../src/requests/request-finalizer.service.js';
import { ProcessingRequest } from '../../src/requests/processing-request.entity.js';
import { RequestRepository } from '../../src/requests/request.repository.js';
import { PublicUrls } from '../../src/storage/public-urls.js';
import { RetrySchedule } from '../../src/webhooks/retry-schedule.js';
import { WebhookDeliveryRepository } from '../../src/webhooks/webhook-delivery.repository.js';
import { WebhookOutbox } from '../../src/webhooks/webhook-outbox.service.js';
import { type SeededRequest, seedRequest } from '../factories/request.factory.js';
import { TEST_DATABASE_URL } from '../support/test-database.js';

const success = {
  status: ImageStatus.Succeeded,
  outputKey: 'images/x/y.jpg',
  obtained: ImageObtained.Fetched,
  format: 'jpeg',
  bytesIn: 1000,
  bytesOut: 400,
  width: 10,
  height: 10,
} as const;

const notFound: ImageOutcome = { status: ImageStatus.Failed, errorCode: 'HTTP_404', errorMessage: 'gone' };

/** Long enough that no lease runs out while a test runs, unless the test expires it. */
const LEASE_MS = 10 * 60_000;

/**
 * BullMQ delivers a chunk job at least once and a chunk's lease can run out,
 * so the same image can be recorded twice, or by a chunk that no longer
 * holds it. These run the guarded transitions of ImageWorkRepository
 * concurrently on the real PostgreSQL and check that nothing is counted
 * twice and that the request is reported done exactly once.
 */
describe('ImageWorkRepository and RequestFinalizer on PostgreSQL', () => {
  let orm: MikroORM;
  let work: ImageWorkRepository;
  let finalizer: RequestFinalizer;
  let exporter: ExportService;
  let prepared: PreparedStatements;
  let dispatch: ImageDispatchRepository;
  let requests: RequestRepository;
  /**
   * The seeded requests' deployment, which no dispatcher serves: e2e suites
   * sharing this database run dispatchers that take the images of any
   * request without one.
   */
  const deployment = `request-progress-${randomUUID()}`;

  beforeAll(async () => {
    await prepareDatabase(TEST_DATABASE_URL);
    orm = await MikroORM.init(ormOptions(TEST_DATABASE_URL, ENTITIES));
    prepared = new PreparedStatements(orm.em);
    work = new ImageWorkRepository(prepared);
    dispatch = new ImageDispatchRepository(orm.em, prepared);
    requests = new RequestRepository(orm.em, prepared);
    const config = loadConfig({ DATABASE_URL: TEST_DATABASE_URL, PUBLIC_BASE_URL: 'http://cdn.test' });
    // The seeded requests have no webhook, so the outbox never reaches for the queue.
    const urls = new PublicUrls(config);
    const outbox = new WebhookOutbox(
      urls,
      null as unknown as JobQueue,
      new RetrySchedule(config.webhooks.retryDelaysMs),
      new WebhookDeliveryRepository(orm.em),
    );
    finalizer = new RequestFinalizer(orm.em, requests, outbox);
    exporter = new ExportService(new ProductRepository(orm.em), urls);
  });

  afterAll(async () => {
    await orm?.close(true);
  });

  /** A pending request of this suite's deployment. */
  function seed(imagesPerProduct: number[]): Promise<SeededRequest> {
    return orm.em.fork().transactional((tx: EntityManager) => seedRequest(tx, imagesPerProduct, deployment));
  }

  /**
   * Leases the images to a new chunk, as the dispatcher does, then claims the
   * chunk, which counts an attempt for each image, as its worker does; returns
   * the chunk id.
   */
  async function take(imageIds: string[]): Promise<string> {
    const chunkId = randomUUID();
    await orm.em
      .fork()
      .execute(`UPDATE image SET chunk_id = ?, lease_until = now() + ? * interval '1 millisecond' WHERE id IN (?)`, [
        chunkId,
        LEASE_MS,
        imageIds,
      ]);
    const chunk = await work.claimChunk(chunkId, LEASE_MS);
    expect(chunk?.images.map((image) => image.imageId).sort()).toEqual([...imageIds].sort());
    for (const image of chunk!.images) expect(image).toMatchObject({ attempt: 1, waitingSince: null });
    return chunkId;
  }

  function record(chunkId: string, requestId: string, imageId: string, outcome: ImageOutcome) {
    return work.recordWork(chunkId, requestId, [{ imageId, outcome }]);
  }

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

  async function imageRow(imageId: string) {
    const [row] = await orm.em.fork().execute<
      {
        status: string;
        attempts: number;
        chunk_id: string | null;
        leased: boolean;
        backing_off: boolean;
        storage_down: boolean;
      }[]
    >(
      `SELECT status, attempts, chunk_id, lease_until IS NOT NULL AS leased,
              coalesce(not_before > now() + interval '30 seconds', false) AS backing_off,
              waiting_since IS NOT NULL AS storage_down
         FROM image WHERE id = ?`,
      [imageId],
    );
    return row;
  }

  it('counts an image once when ten deliveries of its chunk record it at the same time', async () => {
    const { requestId, imageIds } = await seed([2]);
    const image = imageIds[0][0];
    const chunk = await take([image]);
    const results = await Promise.all(Array.from({ length: 10 }, () => record(chunk, requestId, image, success)));
    expect(results.filter((result) => result.counted.length > 0)).toEqual([
      { counted: [image], requestDone: false, round: 0 },
    ]);
    expect(await counters(requestId)).toMatchObject({ images_succeeded: 1, images_failed: 0, products_processed: 0 });
  });

  it('counts nothing that a chunk records for an image it no longer holds, once its lease ran out', async () => {
    const { requestId, imageIds } = await seed([1]);
    const image = imageIds[0][0];
    const lost = await take([image]);
    // Its worker hung and stopped extending the lease, which runs out; the image goes to a chunk of its own.
    await orm.em.fork().execute(`UPDATE image SET lease_until = now() - interval '1 second' WHERE id = ?`, [image]);
    const again = randomUUID();
    await prepared.transaction(async (tx) => {
      expect(await dispatch.expiredImages(tx, deployment, 1000)).toContainEqual({
        imageId: image,
        chunkId: lost,
        requestId,
        attempts: 1,
      });
      expect(await dispatch.redispatchAlone(tx, image, again, LEASE_MS)).toBe(true);
    });

    // The hung worker wakes up: the image is not its own to record any more.
    expect(await record(lost, requestId, image, notFound)).toEqual({ counted: [], requestDone: false, round: 0 });
    expect(await imageRow(image)).toMatchObject({ status: 'pending', attempts: 1, chunk_id: again });

    const chunk = await work.claimChunk(again, LEASE_MS);
    expect(chunk?.images.map((claimed) => claimed.imageId)).toEqual([image]);
    expect(chunk?.images[0]).toMatchObject({ attempt: 2 });
    expect(await record(again, requestId, image, success)).toEqual({ counted: [image], requestDone: true, round: 0 });

    // Whatever the lost chunk writes afterwards, an outcome or a requeue, changes nothing.
    expect(await record(lost, requestId, image, notFound)).toEqual({ counted: [], requestDone: false, round: 0 });
    expect(
      await work.recordWork(lost, requestId, [{ imageId: image, requeue: { delayMs: 0, notItsFault: true } }]),
    ).toEqual({ counted: [], requestDone: false, round: 0 });
    expect(await imageRow(image)).toMatchObject({ status: 'succeeded', attempts: 2, chunk_id: null, leased: false });
    expect(await counters(requestId)).toMatchObject({ images_succeeded: 1, images_failed: 0, products_processed: 1 });
  });

  it('reads a request by id with every column the ORM maps, as its own findOne does', async () => {
    const { requestId } = await seed([2, 1]);
    const read = await requests.findById(requestId);
    const loaded = await orm.em.fork().findOneOrFail(ProcessingRequest, { id: requestId });
    // Every property, so a column added to the entity and not to the prepared statement fails here.
    const properties = orm
      .getMetadata()
      .get(ProcessingRequest)
      .props.map((prop) => prop.name);
    expect(properties.length).toBeGreaterThan(20);
    for (const property of properties) {
      expect([property, read?.[property]]).toEqual([property, loaded[property]]);
    }
    expect(await requests.findById(randomUUID())).toBeNull();
  });

  it('reads what a status shows of a request as plain values equal to what the ORM maps', async () => {
    const { requestId } = await seed([2, 1]);
    // Every kind of value set: a date where there can be null, JSON, text.
    await orm.em.fork().execute(
      `UPDATE processing_request SET started_at = now(), webhook_url = 'https://hooks.example/x',
           webhook_events = '["request.completed"]', options = '{"resize":0.5}' WHERE id = ?`,
      [requestId],
    );
    const row = await requests.statusOf(requestId);
    const loaded = await orm.em.fork().findOneOrFail(ProcessingRequest, { id: requestId });
    expect(row).not.toBeNull();
    expect(Object.keys(row!).sort()).toEqual(
      [
        'id',
        'status',
        'originalFilename',
        'webhookUrl',
        'webhookEvents',
        'options',
        'productCount',
        'productsProcessed',
        'imageCount',
        'imagesSucceeded',
        'imagesFailed',
        'imagesCancelled',
        'imagesRevalidated',
        'imagesReused',
        'retryRound',
        'createdAt',
        'startedAt',
        'completedAt',
      ].sort(),
    );
    for (const [property, value] of Object.entries(row!)) {
      expect([property, value]).toEqual([property, loaded[property as keyof ProcessingRequest]]);
    }
    expect(row!.startedAt).toBeInstanceOf(Date);
    expect(await requests.statusOf(randomUUID())).toBeNull();
  });

  it('reports the request done exactly once when its last images finish together', async () => {
    const { requestId, imageIds } = await seed([2, 1]);
    const all = imageIds.flat();
    const chunks: string[] = [];
    for (const image of all) chunks.push(await take([image]));
    const results = await Promise.all(
      all.map((image, index) => record(chunks[index], requestId, image, index === 1 ? notFound : success)),
    );
    expect(results.flatMap((result) => result.counted).sort()).toEqual([...all].sort());
    expect(results.filter((result) => result.requestDone)).toHaveLength(1);
    expect(await counters(requestId)).toMatchObject({ images_succeeded: 2, images_failed: 1, products_processed: 2 });
  });

  it("adds up concurrent chunks' batches of one request, products spread across chunks", async () => {
    const { requestId, imageIds } = await seed([3, 3, 3, 3]);
    const all = imageIds.flat();
    // Image i goes to chunk i % 4, so every product has images in three chunks.
    const batches = [0, 1, 2, 3].map((lane) => all.filter((_, index) => index % 4 === lane));
    const chunks: string[] = [];
    for (const batch of batches) chunks.push(await take(batch));
    // Every product's last image fails.
    const failing = new Set(imageIds.map((images) => images[2]));
    const results = await Promise.all(
      batches.map((batch, lane) =>
        work.recordWork(
          chunks[lane],
          requestId,
          batch.map((imageId) => ({ imageId, outcome: failing.has(imageId) ? notFound : success })),
        ),
      ),
    );
    expect(results.flatMap((result) => result.counted).sort()).toEqual([...all].sort());
    expect(results.filter((result) => result.requestDone)).toHaveLength(1);
    expect(await counters(requestId)).toMatchObject({ images_succeeded: 8, images_failed: 4, products_processed: 4 });
    const products = await orm.em
      .fork()
      .execute<{ images_done: number; processed: boolean }[]>(
        'SELECT images_done, processed FROM product WHERE request_id = ? ORDER BY row_number',
        [requestId],
      );
    expect(products).toEqual(Array.from({ length: 4 }, () => ({ images_done: 3, processed: true })));
  });

  it('sends a requeued image back to wait uncounted, and gives the attempt back when storage was down', async () => {
    const { requestId, imageIds } = await seed([3]);
    const [done, retried, waitsForStorage] = imageIds[0];
    const chunk = await take(imageIds[0]);
    expect(
      await work.recordWork(chunk, requestId, [
        { imageId: done, outcome: success },
        { imageId: retried, requeue: { delayMs: 60_000, notItsFault: false } },
        { imageId: waitsForStorage, requeue: { delayMs: 60_000, notItsFault: true } },
      ]),
    ).toEqual({ counted: [done], requestDone: false, round: 0 });
    expect(await imageRow(retried)).toEqual({
      status: 'pending',
      attempts: 1,
      chunk_id: null,
      leased: false,
      backing_off: true,
      storage_down: false,
    });
    expect(await imageRow(waitsForStorage)).toEqual({
      status: 'pending',
      attempts: 0,
      chunk_id: null,
      leased: false,
      backing_off: true,
      storage_down: true,
    });
    expect(await counters(requestId)).toMatchObject({ images_succeeded: 1, images_failed: 0, products_processed: 0 });

    // The chunk holds them no more: a second delivery of it claims nothing, and its outcomes do not count.
    expect(await work.claimChunk(chunk, LEASE_MS)).toBeNull();
    expect(await record(chunk, requestId, retried, success)).toEqual({ counted: [], requestDone: false, round: 0 });
    expect(await counters(requestId)).toMatchObject({ images_succeeded: 1, images_failed: 0 });
  });

  it("gives back the claim's attempt of an image the chunk never started, without starting an outage wait", async () => {
    const { requestId, imageIds } = await seed([2]);
    const [done, unstarted] = imageIds[0];
    const chunk = await take(imageIds[0]);
    await work.recordWork(chunk, requestId, [
      { imageId: done, outcome: success },
      { imageId: unstarted, requeue: { delayMs: 0, notItsFault: false, unstarted: true } },
    ]);
    expect(await imageRow(unstarted)).toMatchObject({
      status: 'pending',
      attempts: 0,
      chunk_id: null,
      storage_down: false,
    });
    expect(await imageRow(done)).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it("splits a dead worker's chunk: each image still open gets its attempt back and a chunk of its own", async () => {
    const { requestId, imageIds } = await seed([3, 1]);
    const [recorded, openA, openB] = imageIds[0];
    const [alone] = imageIds[1];
    const shared = await take([recorded, openA, openB]);
    const single = await take([alone]);
    // The worker recorded one image of the shared chunk, then died; the other chunk's worker died on its only image.
    await record(shared, requestId, recorded, success);
    await orm.em
      .fork()
      .execute(`UPDATE image SET lease_until = now() - interval '1 second' WHERE chunk_id IN (?, ?)`, [shared, single]);

    const split = await prepared.transaction((tx) => dispatch.splitExpiredChunks(tx, deployment));
    expect(split).toBe(2);
    const rows = await Promise.all([openA, openB, alone].map(async (id) => ({ id, ...(await imageRow(id)) })));
    expect(rows.map((row) => [row.status, row.attempts])).toEqual([
      ['processing', 0],
      ['processing', 0],
      // Alone in its chunk: the death was on it, and its attempt stays spent.
      ['processing', 1],
    ]);
    const chunks = new Set(rows.map((row) => row.chunk_id));
    expect(chunks.size).toBe(3);
    expect(chunks.has(shared)).toBe(false);
    expect(chunks.has(single)).toBe(true);
    // A second pass finds every expired image alone: nothing more is given back.
    expect(await prepared.transaction((tx) => dispatch.splitExpiredChunks(tx, deployment))).toBe(0);
    const expired = await prepared.transaction((tx) => dispatch.expiredImages(tx, deployment, 100));
    const ours = expired.filter((image) => [openA, openB, alone].includes(image.imageId));
    expect(ours.map((image) => [image.imageId, image.attempts]).sort()).toEqual(
      [
        [openA, 0],
        [openB, 0],
        [alone, 1],
      ].sort(),
    );
    // The dead worker, should it wake up, holds none of them any more.
    expect(await record(shared, requestId, openA, success)).toEqual({ counted: [], requestDone: false, round: 0 });
  });

  it("tells a pass how many of a request's images wait: its count less its outcomes and its images in chunks", async () => {
    const { requestId } = await seed([40, 30]);
    const waiting = async () => {
      const state = await prepared.transaction((tx) => dispatch.passState(tx, deployment));
      return state.candidates.find((candidate) => candidate.requestId === requestId)?.imagesWaiting;
    };
    expect(await waiting()).toBe(70);
    const chunk = { chunkId: randomUUID(), requestId, tenant: 'default', deployment };
    expect(await prepared.transaction((tx) => dispatch.leaseNextChunk(tx, chunk, [], 16, LEASE_MS))).toMatchObject({
      images: 16,
    });
    expect(await waiting()).toBe(54);
    // Claimed, then two outcomes written: 14 still in the chunk, 2 done, counted once either way.
    const claimed = await work.claimChunk(chunk.chunkId, LEASE_MS);
    const [first, second] = claimed!.images.map((image) => image.imageId);
    await record(chunk.chunkId, requestId, first, success);
    await record(chunk.chunkId, requestId, second, notFound);
    expect(await waiting()).toBe(54);
  });

  it('does not restart an image that already reached a terminal state', async () => {
    const { requestId, imageIds } = await seed([1]);
    const image = imageIds[0][0];
    const chunk = await take([image]);
    expect(await record(chunk, requestId, image, success)).toEqual({ counted: [image], requestDone: true, round: 0 });
    // BullMQ delivers the chunk again: nothing is left to claim, and no attempt is counted.
    expect(await work.claimChunk(chunk, LEASE_MS)).toBeNull();
    expect(await imageRow(image)).toMatchObject({ status: 'succeeded', attempts: 1, chunk_id: null, leased: false });
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
    const { requestId, imageIds } = await seed([2, 1]);
    const [first, sameProduct] = imageIds[0];
    const otherProduct = imageIds[1][0];
    await repeat(first, [sameProduct, otherProduct]);
    // Only the first occurrence is leased to a chunk: the repeats have no work of their own.
    const chunk = await take([first]);
    const results = await Promise.all(Array.from({ length: 10 }, () => record(chunk, requestId, first, success)));
    expect(results.filter((result) => result.counted.length > 0)).toEqual([
      { counted: [first], requestDone: true, round: 0 },
    ]);
    expect(results.filter((result) => result.requestDone)).toHaveLength(1);
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
    const { requestId, imageIds } = await seed([1, 2]);
    const [first] = imageIds[0];
    const [other, copy] = imageIds[1];
    await repeat(first, [copy]);
    const chunk = await take([first, other]);
    await record(chunk, requestId, other, { ...success, outputKey: `images/${requestId}/other.jpg` });
    expect(await record(chunk, requestId, first, notFound)).toEqual({
      counted: [first],
      requestDone: true,
      round: 0,
    });
    // Recorded again (a second delivery): neither counted nor reported done a second time.
    expect(await record(chunk, requestId, first, notFound)).toEqual({ counted: [], requestDone: false, round: 0 });
    expect(await counters(requestId)).toMatchObject({ images_succeeded: 1, images_failed: 2, products_processed: 2 });
    expect((await images(requestId)).map((image) => image.error_code)).toEqual(['HTTP_404', null, 'HTTP_404']);

    expect(await finalizer.finalize(requestId)).toBe('completed_with_errors');
    const rows = await exported(requestId);
    expect(rows[1][3]).toBe('');
    expect(rows[2][3]).toBe(`http://cdn.test/files/images/${requestId}/other.jpg,`);
    expect(rows[2][4]).toBe('http://images.test/0/0.jpg -> HTTP_404: gone');
  });

  it('finalizes once when two finalize jobs run together, with output URLs aligned to inputs', async () => {
    const { requestId, imageIds } = await seed([3]);
    const [first, second, third] = imageIds[0];
    const chunk = await take(imageIds[0]);
    const recorded = await work.recordWork(chunk, requestId, [
      { imageId: first, outcome: { ...success, outputKey: `images/${requestId}/a.jpg` } },
      {
        imageId: second,
        outcome: { status: ImageStatus.Failed, errorCode: 'NOT_AN_IMAGE', errorMessage: 'HTML' },
      },
      { imageId: third, outcome: { ...success, outputKey: `images/${requestId}/c.jpg` } },
    ]);
    expect(recorded.counted.sort()).toEqual([first, second, third].sort());
    expect(recorded).toMatchObject({ requestDone: true, round: 0 });

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
    const { requestId, imageIds } = await seed([2]);
    const [first, second] = imageIds[0];
    const chunk = await take(imageIds[0]);
    await record(chunk, requestId, first, { ...success, outputKey: `images/${requestId}/a.jpg` });
    await record(chunk, requestId, second, { ...success, outputKey: `images/${requestId}/b.jpg` });
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
    const { requestId, imageIds } = await seed([2]);
    const chunk = await take([imageIds[0][0]]);
    await record(chunk, requestId, imageIds[0][0], success);
    expect(await finalizer.finalize(requestId)).toBeNull();
    // Started by its first chunk's claim, and open.
    expect(await counters(requestId)).toMatchObject({ status: 'processing', images_succeeded: 1 });
  });
});
