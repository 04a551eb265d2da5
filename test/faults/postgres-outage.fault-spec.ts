import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { QueueName, type ProcessImageJob } from '../../src/queue/queue.constants.js';
import { AppProcess } from '../support/app-process.js';
import { ImageServer } from '../support/image-server.js';
import { PrivatePostgres } from '../support/private-postgres.js';
import { expectCountedOnce } from '../support/request-ledger.js';
import { testEnv } from '../support/test-env.js';
import { waitUntil } from '../support/wait-until.js';
import { Api, seconds, slowImages, startApi, submit, waitForProgress, waitForTerminalRow } from './fault-harness.js';

const OUTAGE_MS = 5000;

/**
 * PostgreSQL, a cluster of the test's own, stops for five seconds while a
 * batch is in flight. Every claim and outcome write in that window fails and
 * the job is retried with backoff; readiness reports the database down. With
 * a retry budget longer than the outage, retries alone finish the batch; with
 * one that runs out, jobs end failed while their image is still open, and
 * the stuck-work sweep retries them once the database is back. The budget
 * (JOB_ATTEMPTS, JOB_BACKOFF_MS) is fixed by whoever enqueues: the API.
 */
describe('fault: PostgreSQL stops mid-batch', () => {
  let postgres: PrivatePostgres;
  let images: ImageServer;
  let logs: string;
  let databaseUrl: string;
  let api: Api | undefined;
  let worker: AppProcess | undefined;

  beforeAll(async () => {
    postgres = await PrivatePostgres.start();
    databaseUrl = postgres.url('pixbatch_outage_test');
    images = await ImageServer.start();
    logs = await mkdtemp(join(tmpdir(), 'pixbatch-fault-logs-'));
  });

  afterEach(async () => {
    await worker?.kill();
    await postgres.start();
    await api?.close();
    [api, worker] = [undefined, undefined];
  });

  afterAll(async () => {
    await postgres?.destroy();
    await images?.close();
    await rm(logs, { recursive: true, force: true });
  });

  /** An API and a worker with their own queues, sharing the private database. */
  async function start(name: string, settings: Record<string, string>): Promise<{ api: Api; worker: AppProcess }> {
    const env = testEnv({ DATABASE_URL: databaseUrl, JOB_LOCK_MS: '2000', WORKER_CONCURRENCY: '4', ...settings });
    api = await startApi(env);
    worker = AppProcess.spawn({ ...env, APP_ROLE: 'worker' }, join(logs, `${name}.log`));
    return { api, worker };
  }

  async function readiness(): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await api!.app.inject({ method: 'GET', url: '/health/ready' });
    return { status: response.statusCode, body: response.json() };
  }

  /** Stops PostgreSQL once the batch is under way, checks readiness while it is down, starts it again. */
  async function outageMidBatch(requestId: string): Promise<number> {
    await waitForProgress(databaseUrl, requestId, 10);
    await postgres.stop();
    const downAt = Date.now();
    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ error: { database: { status: 'down' } } });
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS - (Date.now() - downAt)));
    await postgres.start();
    const upAt = Date.now();
    console.log(`PostgreSQL down for ${seconds(downAt)}; readiness said 503 meanwhile`);
    await waitUntil('readiness 200', async () => (await readiness()).status === 200);
    console.log(`readiness 200 ${seconds(upAt)} after PostgreSQL came back`);
    return upAt;
  }

  it('retries the failed writes with backoff and completes the batch', async () => {
    // 8 attempts, 500 ms doubling: about 64 s of retries outlast the outage.
    // No sweep, so the retries alone have to do it.
    const { api, worker } = await start('retries', { JOB_ATTEMPTS: '8', JOB_BACKOFF_MS: '500' });
    const requestId = await submit(api.app, slowImages(images, 'retries', 40, 250));
    const upAt = await outageMidBatch(requestId);

    const done = await waitForTerminalRow(databaseUrl, requestId, 90_000, [worker]);
    console.log(`batch ${done.status} ${seconds(upAt)} after PostgreSQL came back`);
    await expectCountedOnce(databaseUrl, api.config.storageDir, requestId);

    const queue = new Queue<ProcessImageJob>(QueueName.Images, {
      connection: { url: api.config.redisUrl },
      prefix: api.config.queuePrefix,
    });
    try {
      const jobs = await queue.getJobs(['completed']);
      const retried = jobs.filter((job) => job.data.requestId === requestId && job.attemptsMade > 1);
      console.log(`${retried.length} of 40 image jobs needed more than one attempt`);
      expect(retried.length).toBeGreaterThan(0);
    } finally {
      await queue.close();
    }
  }, 180_000);

  it('runs out of retries during the outage; the sweep retries the failed jobs and completes the batch', async () => {
    const { api, worker } = await start('sweep', {
      JOB_ATTEMPTS: '2',
      JOB_BACKOFF_MS: '50',
      SWEEP_INTERVAL_MS: '1000',
    });
    const requestId = await submit(api.app, slowImages(images, 'sweep', 40, 250));
    const upAt = await outageMidBatch(requestId);

    const done = await waitForTerminalRow(databaseUrl, requestId, 90_000, [worker]);
    console.log(`batch ${done.status} ${seconds(upAt)} after PostgreSQL came back`);
    await expectCountedOnce(databaseUrl, api.config.storageDir, requestId);
    expect(worker.log()).toMatch(
      new RegExp(
        `Request ${requestId}: .*retried [1-9]\\d* image job\\(s\\) that finished without recording an outcome`,
      ),
    );
  }, 180_000);
});
