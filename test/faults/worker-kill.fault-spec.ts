import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppProcess } from '../support/app-process.js';
import { ImageServer } from '../support/image-server.js';
import { expectChunkJobsGone, expectCountedOnce, scratchDatabaseUrl } from '../support/request-ledger.js';
import { dropDatabase } from '../support/test-database.js';
import { testEnv } from '../support/test-env.js';
import { Api, seconds, slowImages, startApi, submit, waitForProgress, waitForTerminalRow } from './fault-harness.js';

/**
 * A worker process is SIGKILLed while a 40-image batch is in flight (four
 * chunks at a time, each image answered 250 ms late), then a new worker
 * starts. The images the killed worker held are dispatched again, each in a
 * chunk of its own, once their leases run out; the chunks it had not claimed
 * are taken as they are. Every image ends terminal exactly once, and no chunk
 * job is left behind in Redis.
 */
describe('fault: a worker is killed mid-batch', () => {
  const databaseUrl = scratchDatabaseUrl('worker_kill');
  let images: ImageServer;
  let api: Api;
  let env: Record<string, string>;
  let logs: string;
  const workers: AppProcess[] = [];

  beforeAll(async () => {
    images = await ImageServer.start();
    logs = await mkdtemp(join(tmpdir(), 'pixbatch-fault-logs-'));
    env = testEnv({
      DATABASE_URL: databaseUrl,
      JOB_LOCK_MS: '2000',
      SWEEP_INTERVAL_MS: '1000',
      WORKER_CONCURRENCY: '4',
    });
    api = await startApi(env);
  });

  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.kill()));
    await api?.close();
    await images?.close();
    await dropDatabase(databaseUrl);
    await rm(logs, { recursive: true, force: true });
  });

  function startWorker(name: string): AppProcess {
    const worker = AppProcess.spawn({ ...env, APP_ROLE: 'worker' }, join(logs, `${name}.log`));
    workers.push(worker);
    return worker;
  }

  it("hands the killed worker's images to a new worker and counts every image once", async () => {
    const urls = slowImages(images, 'kill', 40, 250);
    const requestId = await submit(api.app, urls);
    const started = Date.now();
    const first = startWorker('first');
    await waitForProgress(databaseUrl, requestId, 12);
    await first.kill('SIGKILL');
    const killedAt = Date.now();
    console.log(`worker SIGKILLed ${seconds(started)} after the upload, 12+ of 40 images done`);

    startWorker('second');
    const done = await waitForTerminalRow(databaseUrl, requestId, 60_000, workers);
    console.log(`batch ${done.status} ${seconds(killedAt)} after the kill (${seconds(started)} in all)`);

    const book = await expectCountedOnce(databaseUrl, api.config.storageDir, requestId);
    // The images in flight at the kill were fetched at most twice. A chunk's claim counts an attempt
    // for each of its images; the dead chunk's open images got theirs back when it left several
    // open, and an image its worker died on alone kept it: one or two attempts, never more.
    expect(book.maxAttempts).toBeGreaterThanOrEqual(1);
    expect(book.maxAttempts).toBeLessThanOrEqual(2);
    for (const url of urls) {
      const hits = images.hitCount(new URL(url).pathname);
      expect(hits).toBeGreaterThanOrEqual(1);
      expect(hits).toBeLessThanOrEqual(2);
    }
    // The killed worker's chunk jobs stalled and were dropped; every other one was removed as it ended.
    await expectChunkJobsGone(api.config.redisUrl, api.config.queuePrefix);
  }, 90_000);
});
