import { getQueueToken } from '@nestjs/bullmq';
import { EntityManager } from '@mikro-orm/postgresql';
import type { Queue } from 'bullmq';
import pg from 'pg';
import { StuckWorkSweeper } from '../../src/processing/stuck-work.sweeper.js';
import { ImageStatus } from '../../src/products/image-status.js';
import { ImageRepository } from '../../src/products/image.repository.js';
import { JobQueue } from '../../src/queue/job-queue.service.js';
import { QueueName } from '../../src/queue/queue.constants.js';
import type { CreatedRequestDto } from '../../src/requests/dto/request-status.dto.js';
import { SWEEP_LOCK_NAME } from '../../src/requests/request.repository.js';
import { productCsv } from '../factories/csv.factory.js';
import { seedRequest } from '../factories/request.factory.js';
import { ImageServer } from '../support/image-server.js';
import { expectCountedOnce, ledger, scratchDatabaseUrl } from '../support/request-ledger.js';
import { dropDatabase } from '../support/test-database.js';
import { TestApp, multipart, startTestApp, waitForTerminal } from '../support/test-app.js';
import { waitUntil } from '../support/wait-until.js';

/**
 * Work PostgreSQL knows about but Redis no longer holds: the stuck-work
 * sweep finds it and the batch still completes, each image counted once.
 * The suite has a database of its own (the sweep adopts every stranded
 * request it can see) and sweeps every 500 ms; a request is looked at once
 * it has made no progress for a second (JOB_LOCK_MS).
 */
describe('stuck-work sweep', () => {
  const databaseUrl = scratchDatabaseUrl('sweep');
  let images: ImageServer;
  let api: TestApp;
  let imageQueue: Queue;

  beforeAll(async () => {
    images = await ImageServer.start();
    api = await startTestApp({
      DATABASE_URL: databaseUrl,
      SWEEP_INTERVAL_MS: '500',
      JOB_LOCK_MS: '1000',
      WORKER_CONCURRENCY: '2',
    });
    imageQueue = api.app.get<Queue>(getQueueToken(QueueName.Images));
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

  it('re-enqueues image jobs deleted from Redis mid-batch', async () => {
    const urls = Array.from({ length: 12 }, (_, index) => {
      const path = `/drained/${index}.jpg`;
      images.route(path, { body: images.images.get('/photo.jpg'), type: 'image/jpeg', delayMs: 300 });
      return images.url(path);
    });
    const requestId = await upload(urls);
    // Waiting jobs vanish; the two in flight finish normally.
    await imageQueue.drain();
    expect(await imageQueue.getJobCountByTypes('waiting')).toBe(0);

    const status = await waitForTerminal(api.app, requestId, 20_000);
    expect(status).toMatchObject({ status: 'completed', counts: { images: { total: 12, succeeded: 12 } } });
    await expectCountedOnce(databaseUrl, api.config.storageDir, requestId);
    for (const url of urls) expect(images.hitCount(new URL(url).pathname)).toBe(1);
  }, 30_000);

  it('enqueues the jobs of a request stored but never queued (a crash between commit and enqueue)', async () => {
    const em = api.app.get(EntityManager).fork();
    const { requestId } = await seedRequest(em, [2, 1]);
    await em.execute(`UPDATE image SET input_url = ? WHERE request_id = ?`, [images.url('/photo.jpg'), requestId]);

    const status = await waitForTerminal(api.app, requestId, 20_000);
    expect(status).toMatchObject({ status: 'completed', counts: { images: { total: 3, succeeded: 3 } } });
    expect(await ledger(databaseUrl, requestId)).toMatchObject({
      counted: { succeeded: 3, failed: 0, productsProcessed: 2 },
      rows: { succeeded: 3, open: 0, imagesDone: 3 },
    });
  }, 30_000);

  /** A request whose every image is recorded, with no finalize job unless `beforeRecording` queues one. */
  async function seedUnfinalized(beforeRecording?: (requestId: string) => Promise<void>): Promise<string> {
    const em = api.app.get(EntityManager).fork();
    const progress = api.app.get(ImageRepository);
    const { requestId, imageIds } = await seedRequest(em, [2]);
    await beforeRecording?.(requestId);
    for (const imageId of imageIds.flat()) {
      await progress.recordOutcome(imageId, {
        status: ImageStatus.Failed,
        errorCode: 'HTTP_404',
        errorMessage: 'gone',
      });
    }
    return requestId;
  }

  it('finalizes a request whose images are all recorded but whose finalize job was lost', async () => {
    const requestId = await seedUnfinalized();
    const status = await waitForTerminal(api.app, requestId, 10_000);
    expect(status).toMatchObject({ status: 'failed', counts: { images: { total: 2, failed: 2 } } });
  }, 20_000);

  it('retries a finalize job that completed too early, whose id blocks adding it again', async () => {
    const requests = api.app.get<Queue>(getQueueToken(QueueName.Requests));
    const requestId = await seedUnfinalized(async (id) => {
      await api.app.get(JobQueue).enqueueFinalize(id);
      // Finalize finds images still open and completes doing nothing; its job is kept.
      await waitUntil(
        'the early finalize job to complete',
        async () => (await requests.getJobState(id)) === 'completed',
      );
    });
    await api.app.get(JobQueue).enqueueFinalize(requestId);
    expect(await requests.getJobState(requestId)).toBe('completed');

    const status = await waitForTerminal(api.app, requestId, 10_000);
    expect(status).toMatchObject({ status: 'failed', counts: { images: { total: 2, failed: 2 } } });
  }, 20_000);

  it('sweeps one worker at a time: while another holds the lock, a sweep repairs nothing', async () => {
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(hashtext($1))', [SWEEP_LOCK_NAME]);
      const requestId = await seedUnfinalized();
      expect(await api.app.get(StuckWorkSweeper).sweep()).toBe(false);
      // The suite's own timer keeps trying meanwhile, with the same result.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect((await ledger(databaseUrl, requestId)).status).toBe('pending');

      await holder.query('COMMIT');
      const status = await waitForTerminal(api.app, requestId, 10_000);
      expect(status).toMatchObject({ status: 'failed' });
    } finally {
      await holder.end();
    }
  }, 20_000);
});
