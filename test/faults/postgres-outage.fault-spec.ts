import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROBES_STALE_AFTER_MS } from '../../src/health/readiness-probes.js';
import { AppProcess } from '../support/app-process.js';
import { ImageServer } from '../support/image-server.js';
import { PrivatePostgres } from '../support/private-postgres.js';
import { expectChunkJobsGone, expectCountedOnce } from '../support/request-ledger.js';
import { testEnv } from '../support/test-env.js';
import { waitUntil } from '../support/wait-until.js';
import { Api, seconds, slowImages, startApi, submit, waitForProgress, waitForTerminalRow } from './fault-harness.js';

const OUTAGE_MS = 5000;

/**
 * PostgreSQL, a cluster of the test's own, stops for five seconds while a
 * batch is in flight; readiness reports the database down. A chunk whose
 * outcome write fails tries it again, with backoff, for as long as its lease
 * (JOB_LOCK_MS) would last; a chunk that cannot claim its images
 * ends, and its images wait for their leases to run out. PostgreSQL is the
 * record: once it is back, the dispatcher hands out again whatever no chunk
 * recorded, and every image is counted once. With a lease longer than the
 * outage the writes get through and the outage costs no image an attempt;
 * with a shorter one the outcomes in flight are lost, and each of those
 * images is tried again, alone, at the cost of one attempt at most.
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
    const env = testEnv({ DATABASE_URL: databaseUrl, WORKER_CONCURRENCY: '4', ...settings });
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
    // Readiness answers from the background probes: 503 once a round has met the outage.
    await waitUntil('readiness 503', async () => (await readiness()).status === 503, PROBES_STALE_AFTER_MS);
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

  it('retries the failed writes for as long as the lease lasts: the batch completes, no attempt lost', async () => {
    // A 15 s lease outlasts the outage: the chunks' write retries (250 ms doubling, up to 5 s
    // apart) reach the database once it is back. One attempt per image, none to spare: an
    // image that paid an attempt for the outage would fail.
    const { api, worker } = await start('retries', { JOB_LOCK_MS: '15000', JOB_ATTEMPTS: '1' });
    const requestId = await submit(api.app, slowImages(images, 'retries', 40, 250));
    const upAt = await outageMidBatch(requestId);

    const done = await waitForTerminalRow(databaseUrl, requestId, 90_000, [worker]);
    console.log(`batch ${done.status} ${seconds(upAt)} after PostgreSQL came back`);
    const book = await expectCountedOnce(databaseUrl, api.config.storageDir, requestId);
    expect(book.maxAttempts).toBe(1);
    expect(worker.log()).toMatch(/Recording [1-9]\d* image\(s\) failed, trying again/);
    await expectChunkJobsGone(api.config.redisUrl, api.config.queuePrefix);
  }, 180_000);

  it('gives up the writes when the lease runs out: those images are tried again, at one attempt each, and the batch completes', async () => {
    // A 2 s lease runs out during the outage: the outcomes in flight are not written, and
    // their images are dispatched again once the database is back. Two attempts per image
    // are enough: the outage costs each at most one.
    const { api, worker } = await start('lease', { JOB_LOCK_MS: '2000', JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '50' });
    const requestId = await submit(api.app, slowImages(images, 'lease', 40, 250));
    const upAt = await outageMidBatch(requestId);

    const done = await waitForTerminalRow(databaseUrl, requestId, 90_000, [worker]);
    console.log(`batch ${done.status} ${seconds(upAt)} after PostgreSQL came back`);
    const book = await expectCountedOnce(databaseUrl, api.config.storageDir, requestId);
    // The images whose outcome was lost ran a second time, and none more. Their chunk's claim had
    // counted one attempt each; a chunk that left several open gave them back (which image its
    // worker was on is not known), an image left open alone kept it: one or two attempts.
    expect(book.maxAttempts).toBeGreaterThanOrEqual(1);
    expect(book.maxAttempts).toBeLessThanOrEqual(2);
    expect(worker.log()).toMatch(/Recording [1-9]\d* image\(s\) failed, trying again/);
    await expectChunkJobsGone(api.config.redisUrl, api.config.queuePrefix);
  }, 180_000);
});
