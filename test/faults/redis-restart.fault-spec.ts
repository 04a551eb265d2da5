import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PROBES_STALE_AFTER_MS } from '../../src/health/readiness-probes.js';
import type { CreatedRequestDto } from '../../src/requests/dto/request-status.dto.js';
import { productCsv } from '../factories/csv.factory.js';
import { AppProcess } from '../support/app-process.js';
import { ImageServer } from '../support/image-server.js';
import { PrivateRedis } from '../support/private-redis.js';
import { multipart } from '../support/test-app.js';
import { expectChunkJobsGone, expectCountedOnce, ledger, scratchDatabaseUrl } from '../support/request-ledger.js';
import { dropDatabase } from '../support/test-database.js';
import { testEnv } from '../support/test-env.js';
import { waitUntil } from '../support/wait-until.js';
import { Api, seconds, slowImages, startApi, submit, waitForProgress, waitForTerminalRow } from './fault-harness.js';

/**
 * Redis goes away mid-batch, on a redis-server of the test's own. While it
 * is down readiness says so (503, naming Redis), but uploads are still
 * accepted at once: PostgreSQL is the record of the work, so the request is
 * stored and waits there. Once Redis is back the worker reconnects by
 * itself, the batch completes and so does the request uploaded meanwhile,
 * each image counted once. When Redis comes back empty (no persistence), the
 * chunk jobs are gone; the images they held are dispatched again once their
 * leases run out, and the batch completes all the same.
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

  async function query<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      return (await client.query<T>(sql, values)).rows;
    } finally {
      await client.end();
    }
  }

  async function requestCount(): Promise<number> {
    return (await query<{ n: number }>('SELECT count(*)::int AS n FROM processing_request'))[0].n;
  }

  /** The request's images leased to a chunk job that no worker has claimed: pending, with a chunk. */
  async function dispatchedUnclaimed(requestId: string): Promise<string[]> {
    const rows = await query<{ id: string }>(
      `SELECT id FROM image WHERE request_id = $1 AND status = 'pending' AND chunk_id IS NOT NULL ORDER BY id`,
      [requestId],
    );
    return rows.map((row) => row.id);
  }

  async function attemptsOf(imageIds: string[]): Promise<number[]> {
    const rows = await query<{ attempts: number }>(
      'SELECT attempts FROM image WHERE id = ANY($1::uuid[]) ORDER BY id',
      [imageIds],
    );
    return rows.map((row) => row.attempts);
  }

  it('keeps its data: readiness says so within a round of probes, an upload is stored meanwhile, both batches complete', async () => {
    const requestId = await submit(api.app, slowImages(images, 'kept', 40, 250));
    await waitForProgress(databaseUrl, requestId, 10);
    const before = await requestCount();
    await redis.stop({ keepData: true });
    const downAt = Date.now();

    // Readiness answers from the background probes: at once, and 503 once a round has met the outage.
    await waitUntil('readiness 503', async () => (await readiness()).status === 503, PROBES_STALE_AFTER_MS);
    const noticedMs = Date.now() - downAt;
    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ error: { redis: { status: 'down' } } });
    expect(down.ms).toBeLessThan(1000);

    // Accepted without waiting on Redis: committed in PostgreSQL, where the dispatcher will find it.
    const uploadStarted = Date.now();
    const upload = await api.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      ...multipart({}, { content: productCsv([{ serial: 1, name: 'While down', urls: [images.url('/photo.jpg')] }]) }),
    });
    const uploadMs = Date.now() - uploadStarted;
    expect(upload.statusCode).toBe(202);
    const whileDown = upload.json<CreatedRequestDto>();
    expect(whileDown).toMatchObject({ status: 'pending', productCount: 1, imageCount: 1 });
    expect(uploadMs).toBeLessThan(3000);
    expect(await requestCount()).toBe(before + 1);
    expect(await ledger(databaseUrl, whileDown.requestId)).toMatchObject({
      status: 'pending',
      imageCount: 1,
      rows: { succeeded: 0, failed: 0, open: 1 },
    });
    console.log(`Redis down: readiness 503 after ${noticedMs} ms, upload 202 in ${uploadMs} ms, request stored`);

    // Redis stays away a while: the worker's connections retry meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await redis.restart({ keepData: true });
    console.log(`Redis back after ${seconds(downAt)}`);
    const backAt = Date.now();
    await waitUntil('readiness 200', async () => (await readiness()).status === 200);
    console.log(`readiness 200 ${seconds(backAt)} after Redis came back`);

    const done = await waitForTerminalRow(databaseUrl, requestId, 60_000, [worker]);
    console.log(`batch ${done.status} ${seconds(backAt)} after Redis came back`);
    await expectCountedOnce(databaseUrl, api.config.storageDir, requestId);
    const stored = await waitForTerminalRow(databaseUrl, whileDown.requestId, 60_000, [worker]);
    console.log(`the request uploaded while Redis was down ${stored.status} ${seconds(backAt)} after it came back`);
    await expectCountedOnce(databaseUrl, api.config.storageDir, whileDown.requestId);
    await expectChunkJobsGone(redis.url, api.config.queuePrefix);
  }, 120_000);

  it('loses its data: the images of the vanished chunk jobs are dispatched again and the batch completes', async () => {
    const requestId = await submit(api.app, slowImages(images, 'lost', 40, 250));
    await waitForProgress(databaseUrl, requestId, 10);
    // Images handed to a chunk that no worker has claimed yet: all Redis has of them is that job.
    const unclaimed = await dispatchedUnclaimed(requestId);
    await redis.restart({ keepData: false });
    const backAt = Date.now();
    expect(unclaimed.length).toBeGreaterThan(0);
    console.log(`Redis came back empty; ${unclaimed.length} dispatched, unclaimed image(s) lost their chunk job`);

    const done = await waitForTerminalRow(databaseUrl, requestId, 60_000, [worker]);
    console.log(`batch ${done.status} ${seconds(backAt)} after Redis came back empty`);
    await expectCountedOnce(databaseUrl, api.config.storageDir, requestId);
    // Dispatched again from PostgreSQL and done once: losing the job cost no attempt.
    expect(await attemptsOf(unclaimed)).toEqual(unclaimed.map(() => 1));
    await expectChunkJobsGone(redis.url, api.config.queuePrefix);
  }, 120_000);
});
