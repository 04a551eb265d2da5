import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import { getQueueToken } from '@nestjs/bullmq';
import { EntityManager } from '@mikro-orm/postgresql';
import type { Queue } from 'bullmq';
import pg from 'pg';
import { StuckWorkSweeper } from '../../src/processing/stuck-work.sweeper.js';
import { ImageStatus } from '../../src/products/image-status.js';
import { ImageWorkRepository } from '../../src/products/image-work.repository.js';
import { JobQueue } from '../../src/queue/job-queue.service.js';
import { QueueName, finalizeJobId } from '../../src/queue/queue.constants.js';
import type { CreatedRequestDto } from '../../src/requests/dto/request-status.dto.js';
import { RequestRepository, SWEEP_LOCK_NAME } from '../../src/requests/request.repository.js';
import { productCsv } from '../factories/csv.factory.js';
import { type SeededRequest, seedRequest } from '../factories/request.factory.js';
import { ImageServer } from '../support/image-server.js';
import { expectCountedOnce, ledger, scratchDatabaseUrl } from '../support/request-ledger.js';
import { dropDatabase } from '../support/test-database.js';
import { TestApp, multipart, startTestApp, waitForTerminal } from '../support/test-app.js';
import { waitUntil } from '../support/wait-until.js';

/** Long enough that no lease the test hands out runs out while it runs. */
const TEST_LEASE_MS = 10 * 60_000;

/**
 * Work PostgreSQL knows about but Redis no longer holds, or that a dead
 * worker left: the dispatcher hands out again any image whose lease ran out
 * (JOB_LOCK_MS, one second here), the stuck-work sweep queues the finalize
 * of a request whose every image is recorded, and the batch still completes,
 * each image counted once. The suite has a database of its own (the sweep
 * and the dispatcher adopt the requests stored without a deployment) and
 * sweeps every 500 ms.
 */
describe('stuck work: lost chunk jobs, dead workers and lost finalize jobs', () => {
  const databaseUrl = scratchDatabaseUrl('sweep');
  let images: ImageServer;
  let api: TestApp;
  let imageQueue: Queue;
  let requestQueue: Queue;

  beforeAll(async () => {
    images = await ImageServer.start();
    api = await startTestApp({
      DATABASE_URL: databaseUrl,
      SWEEP_INTERVAL_MS: '500',
      JOB_LOCK_MS: '1000',
      WORKER_CONCURRENCY: '2',
    });
    imageQueue = api.app.get<Queue>(getQueueToken(QueueName.Images));
    requestQueue = api.app.get<Queue>(getQueueToken(QueueName.Requests));
  });

  afterAll(async () => {
    await api?.close();
    await images?.close();
    await dropDatabase(databaseUrl);
  });

  async function upload(urls: string[]): Promise<string> {
    const csv = productCsv(urls.map((url, index) => ({ serial: index + 1, name: `SKU${index + 1}`, urls: [url] })));
    const response = await api.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      ...multipart({}, { content: csv }),
    });
    expect(response.statusCode).toBe(202);
    return response.json<CreatedRequestDto>().requestId;
  }

  /** A photo at its own path, so that its fetches can be counted. */
  function photoAt(path: string, delayMs = 0): string {
    images.route(path, { body: images.images.get('/photo.jpg'), type: 'image/jpeg', delayMs });
    return images.url(path);
  }

  /**
   * A request stored straight into the tables, with whatever `setup` makes
   * of it, in one transaction: no dispatcher pass sees it half-made.
   */
  function seed(
    imagesPerProduct: number[],
    setup: (tx: EntityManager, seeded: SeededRequest) => Promise<void>,
    deployment: string = api.config.deployment,
  ): Promise<SeededRequest> {
    return api.app
      .get(EntityManager)
      .fork()
      .transactional(async (tx: EntityManager) => {
        const seeded = await seedRequest(tx, imagesPerProduct, deployment);
        await setup(tx, seeded);
        return seeded;
      });
  }

  async function imageRows(requestId: string) {
    return api.app
      .get(EntityManager)
      .fork()
      .execute<{ id: string; status: string; chunk_id: string | null; attempts: number; error_code: string | null }[]>(
        'SELECT id, status, chunk_id, attempts, error_code FROM image WHERE request_id = ? ORDER BY id',
        [requestId],
      );
  }

  /** Chunk jobs wait in Redis, untaken, while this runs; the queue is resumed after, whatever happens. */
  async function whilePaused(run: () => Promise<void>): Promise<void> {
    await imageQueue.pause();
    try {
      await run();
    } finally {
      await imageQueue.resume();
    }
  }

  it('dispatches again the images of chunk jobs Redis lost, once their lease runs out', async () => {
    const urls = Array.from({ length: 12 }, (_, index) => photoAt(`/lost/${index}.jpg`));
    let requestId = '';
    let lost: string[] = [];
    await whilePaused(async () => {
      requestId = await upload(urls);
      // Twelve images fit in the dispatcher's window: every one is leased to a chunk, queued but not taken.
      await waitUntil('every image leased to a chunk job waiting in Redis', async () => {
        const rows = await imageRows(requestId);
        lost = [...new Set(rows.map((row) => row.chunk_id))].filter((chunk): chunk is string => chunk !== null);
        const jobs = await Promise.all(lost.map((chunkId) => imageQueue.getJob(chunkId)));
        return rows.every((row) => row.status === 'pending' && row.chunk_id !== null) && jobs.every(Boolean);
      });
      expect(lost.length).toBeGreaterThanOrEqual(1);
      // Redis loses them (a restart without persistence, a flush).
      await imageQueue.drain();
      for (const chunkId of lost) expect(await imageQueue.getJob(chunkId)).toBeUndefined();
      expect(await imageQueue.getJobCountByTypes('waiting', 'active')).toBe(0);
    });

    const status = await waitForTerminal(api.app, requestId, 20_000);
    expect(status).toMatchObject({ status: 'completed', counts: { images: { total: 12, succeeded: 12 } } });
    const book = await expectCountedOnce(databaseUrl, api.config.storageDir, requestId);
    // The lost chunks never started their images: each was fetched and tried once, by the chunk that replaced it.
    expect(book.maxAttempts).toBe(1);
    for (const url of urls) expect(images.hitCount(new URL(url).pathname)).toBe(1);
  }, 30_000);

  it('dispatches again, in a chunk of its own, an image whose worker died while on it', async () => {
    const deadChunk = randomUUID();
    const orphanUrl = photoAt('/dead-worker/orphan.jpg');
    const neighbourUrl = photoAt('/dead-worker/neighbour.jpg');
    let requestId = '';
    let orphan = '';
    await whilePaused(async () => {
      ({ requestId } = await seed([2], async (tx, { requestId: id, imageIds }) => {
        const [dead, waiting] = imageIds[0];
        orphan = dead;
        // Its worker counted the attempt, then died: the lease ran out with the image 'processing'.
        await tx.execute(
          `UPDATE image SET input_url = ?, status = 'processing', chunk_id = ?,
                  lease_until = now() - interval '1 second', attempts = 1
            WHERE id = ?`,
          [orphanUrl, deadChunk, dead],
        );
        await tx.execute('UPDATE image SET input_url = ? WHERE id = ?', [neighbourUrl, waiting]);
        await tx.execute(`UPDATE processing_request SET status = 'processing', started_at = now() WHERE id = ?`, [id]);
      }));
      // The queue is paused, so the chunks wait in Redis and their leases can be read.
      let rows: Awaited<ReturnType<typeof imageRows>> = [];
      await waitUntil('both images dispatched', async () => {
        rows = await imageRows(requestId);
        return rows.every((row) => row.status === 'pending' && row.chunk_id !== null);
      });
      const chunkOf = new Map(rows.map((row) => [row.id, row.chunk_id]));
      const neighbour = rows.find((row) => row.id !== orphan)!.id;
      expect(chunkOf.get(orphan)).not.toBe(deadChunk);
      expect(chunkOf.get(orphan)).not.toBe(chunkOf.get(neighbour));
      expect(rows.find((row) => row.id === orphan)).toMatchObject({ attempts: 1 });
    });

    const status = await waitForTerminal(api.app, requestId, 20_000);
    expect(status).toMatchObject({ status: 'completed', counts: { images: { total: 2, succeeded: 2 } } });
    await expectCountedOnce(databaseUrl, api.config.storageDir, requestId);
    // The dead worker's attempt counts; the image's second attempt is its last fetch.
    expect((await imageRows(requestId)).map((row) => [row.id === orphan, row.attempts]).sort()).toEqual([
      [false, 1],
      [true, 2],
    ]);
    expect(images.hitCount('/dead-worker/orphan.jpg')).toBe(1);
    expect(images.hitCount('/dead-worker/neighbour.jpg')).toBe(1);
  }, 30_000);

  it('gives every image of a dead chunk left with several open its attempt back, and runs each alone', async () => {
    const deadChunk = randomUUID();
    const urls = [photoAt('/dead-chunk/first.jpg'), photoAt('/dead-chunk/second.jpg')];
    const { requestId } = await seed([2], async (tx, { requestId: id, imageIds }) => {
      // The chunk's claim counted an attempt for both, then its worker died on one of them: which, is not known.
      for (const [index, imageId] of imageIds[0].entries()) {
        await tx.execute(
          `UPDATE image SET input_url = ?, status = 'processing', chunk_id = ?,
                  lease_until = now() - interval '1 second', attempts = ?
            WHERE id = ?`,
          [urls[index], deadChunk, api.config.jobAttempts, imageId],
        );
      }
      await tx.execute(`UPDATE processing_request SET status = 'processing', started_at = now() WHERE id = ?`, [id]);
    });

    // At their last attempt, neither is failed for the death: each gets it back and succeeds alone.
    const status = await waitForTerminal(api.app, requestId, 20_000);
    expect(status).toMatchObject({ status: 'completed', counts: { images: { total: 2, succeeded: 2 } } });
    await expectCountedOnce(databaseUrl, api.config.storageDir, requestId);
    expect((await imageRows(requestId)).map((row) => row.attempts)).toEqual([
      api.config.jobAttempts,
      api.config.jobAttempts,
    ]);
    for (const url of urls) expect(images.hitCount(new URL(url).pathname)).toBe(1);
  }, 30_000);

  it('fails with PROCESSING_ERROR an image whose worker died on its last attempt, and finalizes the request', async () => {
    const url = photoAt('/dead-worker/last-attempt.jpg');
    const { requestId } = await seed([1], async (tx, { requestId: id }) => {
      await tx.execute(
        `UPDATE image SET input_url = ?, status = 'processing', chunk_id = ?,
                lease_until = now() - interval '1 second', attempts = ?
          WHERE request_id = ?`,
        [url, randomUUID(), api.config.jobAttempts, id],
      );
      await tx.execute(`UPDATE processing_request SET status = 'processing', started_at = now() WHERE id = ?`, [id]);
    });

    const status = await waitForTerminal(api.app, requestId, 20_000);
    expect(status).toMatchObject({ status: 'failed', counts: { images: { total: 1, succeeded: 0, failed: 1 } } });
    expect(await imageRows(requestId)).toEqual([
      expect.objectContaining({
        status: 'failed',
        chunk_id: null,
        attempts: api.config.jobAttempts,
        error_code: 'PROCESSING_ERROR',
      }),
    ]);
    expect(await ledger(databaseUrl, requestId)).toMatchObject({
      counted: { succeeded: 0, failed: 1, productsProcessed: 1 },
      rows: { failed: 1, open: 0, imagesDone: 1 },
    });
    // No attempt was left: it was not fetched again.
    expect(images.hitCount('/dead-worker/last-attempt.jpg')).toBe(0);
  }, 30_000);

  it('dispatches a request stored but never announced (a crash between commit and the nudge)', async () => {
    const { requestId } = await seed([2, 1], async (tx, { requestId: id }) => {
      await tx.execute(`UPDATE image SET input_url = ? WHERE request_id = ?`, [images.url('/photo.jpg'), id]);
    });

    const status = await waitForTerminal(api.app, requestId, 20_000);
    expect(status).toMatchObject({ status: 'completed', counts: { images: { total: 3, succeeded: 3 } } });
    expect(await ledger(databaseUrl, requestId)).toMatchObject({
      counted: { succeeded: 3, failed: 0, productsProcessed: 2 },
      rows: { succeeded: 3, open: 0, imagesDone: 3 },
    });
  }, 30_000);

  /**
   * A request whose every image is recorded, as by a chunk whose finalize job
   * was then lost, with no finalize job unless `beforeRecording` queues one.
   * Its images are leased to the test's own chunk, so no dispatcher takes them.
   */
  async function seedUnfinalized(
    beforeRecording?: (requestId: string) => Promise<void>,
    deployment: string = api.config.deployment,
  ): Promise<string> {
    const work = api.app.get(ImageWorkRepository);
    const chunkId = randomUUID();
    const { requestId, imageIds } = await seed(
      [2],
      async (tx, { requestId: id }) => {
        await tx.execute(
          `UPDATE image SET chunk_id = ?, lease_until = now() + ? * interval '1 millisecond' WHERE request_id = ?`,
          [chunkId, TEST_LEASE_MS, id],
        );
      },
      deployment,
    );
    expect((await work.claimChunk(chunkId, TEST_LEASE_MS))?.images).toHaveLength(2);
    await beforeRecording?.(requestId);
    const recorded = await work.recordWork(
      chunkId,
      requestId,
      imageIds.flat().map((imageId) => ({
        imageId,
        outcome: { status: ImageStatus.Failed, errorCode: 'HTTP_404', errorMessage: 'gone' },
      })),
    );
    expect(recorded).toMatchObject({ requestDone: true, round: 0 });
    return requestId;
  }

  it('finalizes a request whose images are all recorded but whose finalize job was lost', async () => {
    const requestId = await seedUnfinalized();
    const status = await waitForTerminal(api.app, requestId, 10_000);
    expect(status).toMatchObject({ status: 'failed', counts: { images: { total: 2, failed: 2 } } });
  }, 20_000);

  it('finalizes a request whose finalize job ran too early, before its last images were recorded', async () => {
    const queue = api.app.get(JobQueue);
    const requestId = await seedUnfinalized(async (id) => {
      await queue.enqueueFinalize(id, 0);
      // Finalize finds images still open and completes doing nothing; its job goes with it.
      await waitUntil(
        'the early finalize job to finish',
        async () => (await requestQueue.getJobState(finalizeJobId(id, 0))) === 'unknown',
      );
      expect((await ledger(databaseUrl, id)).status).toBe('processing');
    });
    // The early job left no id behind to block the finalize asked for now.
    expect(await requestQueue.getJob(finalizeJobId(requestId, 0))).toBeUndefined();
    await queue.enqueueFinalize(requestId, 0);

    const status = await waitForTerminal(api.app, requestId, 10_000);
    expect(status).toMatchObject({ status: 'failed', counts: { images: { total: 2, failed: 2 } } });
  }, 20_000);

  it('sweeps one worker at a time: while another holds the lock, a sweep repairs nothing', async () => {
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    const attempts = jest.spyOn(RequestRepository.prototype, 'tryTakeSweepLock');
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(hashtext($1))', [SWEEP_LOCK_NAME + api.config.deployment]);
      const requestId = await seedUnfinalized();
      expect(await api.app.get(StuckWorkSweeper).sweep()).toBe(false);
      // The suite's own timer keeps trying meanwhile, with the same result.
      const tried = attempts.mock.results.length;
      await waitUntil('two more sweeps', () => attempts.mock.results.length >= tried + 2);
      for (const result of attempts.mock.results) expect(await result.value).toBe(false);
      expect((await ledger(databaseUrl, requestId)).status).toBe('processing');
      expect(await requestQueue.getJob(finalizeJobId(requestId, 0))).toBeUndefined();

      await holder.query('COMMIT');
      const status = await waitForTerminal(api.app, requestId, 10_000);
      expect(status).toMatchObject({ status: 'failed' });
    } finally {
      attempts.mockRestore();
      await holder.end();
    }
  }, 20_000);

  it("leaves another deployment's requests alone: neither dispatched nor finalized", async () => {
    const other = 'another-deployment/0';
    const recorded = await seedUnfinalized(undefined, other);
    const { requestId: waiting } = await seed(
      [2],
      async (tx, { requestId: id }) => {
        await tx.execute(`UPDATE image SET input_url = ? WHERE request_id = ?`, [photoAt('/other/a.jpg'), id]);
      },
      other,
    );
    // A request of this deployment's, stored after them, goes through dispatch, work and finalize meanwhile.
    const { requestId: own } = await seed([1], async (tx, { requestId: id }) => {
      await tx.execute(`UPDATE image SET input_url = ? WHERE request_id = ?`, [images.url('/photo.jpg'), id]);
    });
    expect(await waitForTerminal(api.app, own, 20_000)).toMatchObject({ status: 'completed' });
    await waitUntil('a sweep after them', () => api.app.get(StuckWorkSweeper).sweep());

    expect(await ledger(databaseUrl, recorded)).toMatchObject({ status: 'processing', counted: { failed: 2 } });
    expect(await requestQueue.getJob(finalizeJobId(recorded, 0))).toBeUndefined();
    expect((await ledger(databaseUrl, waiting)).status).toBe('pending');
    expect(await imageRows(waiting)).toEqual([
      expect.objectContaining({ status: 'pending', chunk_id: null, attempts: 0 }),
      expect.objectContaining({ status: 'pending', chunk_id: null, attempts: 0 }),
    ]);
    expect(images.hitCount('/other/a.jpg')).toBe(0);
  }, 30_000);
});
