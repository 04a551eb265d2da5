import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { productCsv } from '../factories/csv.factory.js';
import { AppProcess } from '../support/app-process.js';
import { ImageServer } from '../support/image-server.js';
import { PrivateRedis } from '../support/private-redis.js';
import { multipart } from '../support/test-app.js';
import { expectCountedOnce, scratchDatabaseUrl } from '../support/request-ledger.js';
import { dropDatabase } from '../support/test-database.js';
import { testEnv } from '../support/test-env.js';
import { waitUntil } from '../support/wait-until.js';
import { Api, seconds, slowImages, startApi, submit, waitForProgress, waitForTerminalRow } from './fault-harness.js';

/**
 * Redis goes away mid-batch, on a redis-server of the test's own. While it
 * is down the API says so (readiness 503, uploads 503 at once, nothing
 * stored); once it is back the worker reconnects by itself and the batch
 * completes, each image counted once. When Redis comes back empty (no
 * persistence), the jobs are gone and the stuck-work sweep queues them again.
 */
describe('fault: Redis restarts mid-batch', () => {
  const databaseUrl = scratchDatabaseUrl('redis_restart');
  let redis: PrivateRedis;
  let images: ImageServer;
  let api: Api;
  let worker: AppProcess;
  let logs: string;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    images = await ImageServer.start();
    logs = await mkdtemp(join(tmpdir(), 'pixbatch-fault-logs-'));
    const env = testEnv({
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      JOB_LOCK_MS: '2000',
      SWEEP_INTERVAL_MS: '1000',
      WORKER_CONCURRENCY: '4',
    });
    api = await startApi(env);
    worker = AppProcess.spawn({ ...env, APP_ROLE: 'worker' }, join(logs, 'worker.log'));
  });

  afterAll(async () => {
    await worker?.kill();
    // The API closes its queues with QUIT, which a connection still waiting
    // to reconnect refuses and then retries forever: close only once it is back.
    await redis?.resume();
    await waitUntil('readiness 200 before closing', async () => (await readiness()).status === 200).catch(
      () => undefined,
    );
    await api?.close();
    await redis?.destroy();
    await images?.close();
    await dropDatabase(databaseUrl);
    await rm(logs, { recursive: true, force: true });
  });

  async function readiness(): Promise<{ status: number; ms: number; body: Record<string, unknown> }> {
    const started = Date.now();
    const response = await api.app.inject({ method: 'GET', url: '/health/ready' });
    return { status: response.statusCode, ms: Date.now() - started, body: response.json() };
  }

  async function requestCount(): Promise<number> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      return (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM processing_request')).rows[0].n;
    } finally {
      await client.end();
    }
  }

  it('keeps its data: readiness and uploads fail fast while down, the worker reconnects, the batch completes', async () => {
    const requestId = await submit(api.app, slowImages(images, 'kept', 40, 250));
    await waitForProgress(databaseUrl, requestId, 10);
    const before = await requestCount();
    await redis.stop({ keepData: true });
    const downAt = Date.now();

    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ error: { redis: { status: 'down' } } });
    expect(down.ms).toBeLessThan(3000);

    const uploadStarted = Date.now();
    const upload = await api.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      ...multipart({}, { content: productCsv([{ serial: 1, name: 'While down', urls: [images.url('/photo.jpg')] }]) }),
    });
    const uploadMs = Date.now() - uploadStarted;
    expect(upload.statusCode).toBe(503);
    expect(upload.headers['content-type']).toContain('application/problem+json');
    expect(upload.json()).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE' });
    expect(uploadMs).toBeLessThan(3000);
    expect(await requestCount()).toBe(before);
    console.log(`Redis down: readiness 503 in ${down.ms} ms, upload 503 in ${uploadMs} ms, nothing stored`);

    await new Promise((resolve) => setTimeout(resolve, 2000));
    await redis.restart({ keepData: true });
    console.log(`Redis back after ${seconds(downAt)}`);
    const backAt = Date.now();
    await waitUntil('readiness 200', async () => (await readiness()).status === 200);
    console.log(`readiness 200 ${seconds(backAt)} after Redis came back`);

    const done = await waitForTerminalRow(databaseUrl, requestId, 60_000, [worker]);
    console.log(`batch ${done.status} ${seconds(backAt)} after Redis came back`);
    await expectCountedOnce(databaseUrl, api.config.storageDir, requestId);
  }, 120_000);

  it('loses its data: the sweep re-enqueues the vanished jobs and the batch completes', async () => {
    const requestId = await submit(api.app, slowImages(images, 'lost', 40, 250));
    await waitForProgress(databaseUrl, requestId, 10);
    await redis.restart({ keepData: false });
    const backAt = Date.now();

    const done = await waitForTerminalRow(databaseUrl, requestId, 60_000, [worker]);
    console.log(`batch ${done.status} ${seconds(backAt)} after Redis came back empty`);
    await expectCountedOnce(databaseUrl, api.config.storageDir, requestId);
    expect(worker.log()).toMatch(
      new RegExp(`Request ${requestId}: re-enqueued [1-9]\\d* image job\\(s\\) missing from the queue`),
    );
  }, 120_000);
});
