import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import sharp from 'sharp';
import { loadConfig } from '../../src/config/app-config.js';
import { productCsv } from '../factories/csv.factory.js';
import { AppProcess } from '../support/app-process.js';
import { freePort } from '../support/free-port.js';
import { ImageServer } from '../support/image-server.js';
import {
  chunkJobsInRedis,
  expectChunkJobsGone,
  expectCountedOnce,
  scratchDatabaseUrl,
} from '../support/request-ledger.js';
import { dropDatabase } from '../support/test-database.js';
import { cleanUp } from '../support/test-app.js';
import { testEnv } from '../support/test-env.js';
import { waitUntil } from '../support/wait-until.js';
import { seconds } from './fault-harness.js';

// LOAD_ROWS=5000 npm run test:faults for a quicker run.
const ROWS = Number(process.env.LOAD_ROWS ?? 50_000);
const WORKERS = 2;

/**
 * A 50 000-row CSV (one tiny image per row) against the built service as it
 * runs in production: an API process and two worker processes. The upload is
 * accepted in seconds with the API's memory bounded (its peak RSS is
 * printed), and every row reaches a terminal state, counted once. The rows
 * wait in PostgreSQL: Redis only ever holds the dispatchers' window of chunk
 * jobs (its peak is printed), never a job per row, and none once it is done.
 */
describe(`load: a ${ROWS}-row CSV`, () => {
  const databaseUrl = scratchDatabaseUrl('load');
  let images: ImageServer;
  let logs: string;
  let env: Record<string, string>;
  const processes: AppProcess[] = [];

  beforeAll(async () => {
    images = await ImageServer.start();
    images.route('/tiny.jpg', {
      body: await sharp({ create: { width: 8, height: 8, channels: 3, background: '#c05020' } })
        .jpeg()
        .toBuffer(),
      type: 'image/jpeg',
    });
    logs = await mkdtemp(join(tmpdir(), 'pixbatch-fault-logs-'));
    env = testEnv({ DATABASE_URL: databaseUrl, PORT: String(await freePort()), WORKER_CONCURRENCY: '16' });
  });

  afterAll(async () => {
    await Promise.all(processes.map((child) => child.kill()));
    await cleanUp(loadConfig(env));
    await images?.close();
    await dropDatabase(databaseUrl);
    await rm(logs, { recursive: true, force: true });
  });

  async function progress(requestId: string): Promise<{ status: string; done: number }> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ status: string; done: number }>(
        'SELECT status, images_succeeded + images_failed AS done FROM processing_request WHERE id = $1',
        [requestId],
      );
      return rows[0];
    } finally {
      await client.end();
    }
  }

  it('accepts the upload in seconds with bounded memory, and every row ends terminal', async () => {
    const api = AppProcess.spawn({ ...env, APP_ROLE: 'api' }, join(logs, 'api.log'));
    processes.push(api);
    const base = `http://127.0.0.1:${env.PORT}`;
    await waitUntil('the API to listen', async () => (await fetch(`${base}/health/live`)).ok, 30_000);

    const csv = productCsv(
      Array.from({ length: ROWS }, (_, index) => ({
        serial: index + 1,
        name: `SKU${index + 1}`,
        urls: [images.url(`/tiny.jpg?n=${index + 1}`)],
      })),
    );
    const form = new FormData();
    form.append('file', new Blob([csv], { type: 'text/csv' }), 'load.csv');
    const rssBefore = api.peakRssMb();
    const uploadStarted = Date.now();
    const response = await fetch(`${base}/api/v1/requests`, { method: 'POST', body: form });
    const acceptedIn = seconds(uploadStarted);
    expect(response.status).toBe(202);
    const { requestId, imageCount } = (await response.json()) as { requestId: string; imageCount: number };
    expect(imageCount).toBe(ROWS);
    const apiPeak = api.peakRssMb();
    console.log(
      `${ROWS} rows (${(csv.length / 1024 / 1024).toFixed(1)} MB) accepted in ${acceptedIn}; ` +
        `API peak RSS ${apiPeak.toFixed(0)} MB (${rssBefore.toFixed(0)} MB before the upload)`,
    );
    // A generous ceiling that only an upload held in memory several times over would break.
    expect(apiPeak).toBeLessThan(1024);

    const started = Date.now();
    const workers = Array.from({ length: WORKERS }, (_, index) =>
      AppProcess.spawn({ ...env, APP_ROLE: 'worker' }, join(logs, `worker-${index}.log`)),
    );
    processes.push(...workers);
    let state = await progress(requestId);
    let lastReport = Date.now();
    let peakChunkJobs = 0;
    while (!['completed', 'completed_with_errors', 'failed'].includes(state.status)) {
      if (Date.now() - started > 840_000)
        throw new Error(`Only ${state.done} of ${ROWS} done after ${seconds(started)}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      peakChunkJobs = Math.max(peakChunkJobs, await chunkJobsInRedis(env.REDIS_URL, env.QUEUE_PREFIX));
      state = await progress(requestId);
      if (Date.now() - lastReport > 30_000) {
        console.log(`${state.done} of ${ROWS} images terminal after ${seconds(started)}`);
        lastReport = Date.now();
      }
    }
    const elapsed = (Date.now() - started) / 1000;
    console.log(
      `all ${ROWS} rows ${state.status} in ${elapsed.toFixed(0)} s (${(ROWS / elapsed).toFixed(0)} images/s, ` +
        `${WORKERS} workers × concurrency ${env.WORKER_CONCURRENCY}); worker peak RSS ` +
        workers.map((worker) => `${worker.peakRssMb().toFixed(0)} MB`).join(', ') +
        `; at most ${peakChunkJobs} chunk jobs in Redis at once`,
    );
    await expectCountedOnce(databaseUrl, env.STORAGE_DIR, requestId);
    // The dispatchers' window is two chunks per lane of every worker. Each worker's dispatcher
    // counts what Redis holds before its pass, so while one worker's chunks are committed but
    // not yet queued another's pass may fill the window again: one window per worker at most.
    const chunkWindow = 2 * Number(env.WORKER_CONCURRENCY) * WORKERS;
    expect(peakChunkJobs).toBeGreaterThan(0);
    expect(peakChunkJobs).toBeLessThanOrEqual(WORKERS * chunkWindow);
    await expectChunkJobsGone(env.REDIS_URL, env.QUEUE_PREFIX);
  }, 900_000);
});
