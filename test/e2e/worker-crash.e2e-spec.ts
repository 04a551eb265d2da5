import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { INestApplicationContext } from '@nestjs/common';
import { createWorkerContext } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config/app-config.js';
import type { ProductPageDto } from '../../src/products/dto/product-page.dto.js';
import type { CreatedRequestDto } from '../../src/requests/dto/request-status.dto.js';
import { productCsv } from '../factories/csv.factory.js';
import { ImageServer } from '../support/image-server.js';
import { expectChunkJobsGone, ledger } from '../support/request-ledger.js';
import { TestApp, multipart, startTestApp, waitForTerminal } from '../support/test-app.js';
import { testEnv } from '../support/test-env.js';

const MAIN = join(process.cwd(), 'dist/src/main.js');

/**
 * A worker dies (SIGKILL) or is stopped (SIGTERM) while an image is in
 * flight. Either way the image ends terminal exactly once: counted once,
 * stored under one key, with no second output file. A dead worker's image is
 * dispatched again once its lease runs out; a stopped worker finishes its
 * chunk before it exits.
 */
describe('a worker that dies or stops mid-job', () => {
  let images: ImageServer;
  let api: TestApp;
  let env: Record<string, string>;
  const children: ChildProcess[] = [];
  const contexts: INestApplicationContext[] = [];

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" first (npm test does).`);
    images = await ImageServer.start();
    // Short leases so a dead worker's image is dispatched again within seconds, not the default 30 s.
    env = testEnv({ JOB_LOCK_MS: '2000' });
    api = await startTestApp({ ...env, APP_ROLE: 'api' });
  });

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const context of contexts) await context.close();
    await api?.close();
    await images?.close();
  });

  function spawnWorker(): ChildProcess {
    const child = spawn(process.execPath, [MAIN], {
      env: { ...process.env, ...env, APP_ROLE: 'worker', WORKER_CONCURRENCY: '1' },
      stdio: 'ignore',
    });
    children.push(child);
    return child;
  }

  async function submit(path: string): Promise<string> {
    const csv = productCsv([{ serial: 1, name: 'In flight', urls: [images.url(path)] }]);
    const response = await api.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      ...multipart({}, { content: csv }),
    });
    expect(response.statusCode).toBe(202);
    return response.json<CreatedRequestDto>().requestId;
  }

  async function storedFiles(requestId: string): Promise<string[]> {
    const { folder } = await ledger(api.config.databaseUrl, requestId);
    return readdir(join(api.config.storageDir, folder)).catch(() => []);
  }

  it('SIGKILL: the image is taken over by another worker and counted once', async () => {
    images.route('/killed.jpg', (hit) => ({
      body: images.images.get('/photo.jpg'),
      type: 'image/jpeg',
      delayMs: hit === 1 ? 10_000 : 0,
    }));
    const inFlight = images.nextRequest('/killed.jpg');
    const requestId = await submit('/killed.jpg');
    const child = spawnWorker();
    await inFlight;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    contexts.push(await createWorkerContext(loadConfig({ ...env, APP_ROLE: 'worker' })));
    const status = await waitForTerminal(api.app, requestId, 60_000);

    expect(status).toMatchObject({ status: 'completed', counts: { images: { total: 1, succeeded: 1, failed: 0 } } });
    expect(images.hitCount('/killed.jpg')).toBe(2);
    expect(await storedFiles(requestId)).toHaveLength(1);
    const products = (
      await api.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}/products` })
    ).json<ProductPageDto>();
    expect(products.items[0].images[0]).toMatchObject({ status: 'succeeded', attempts: 2 });
    // The dead worker's chunk job stalled and was dropped: Redis keeps no trace of it.
    await expectChunkJobsGone(api.config.redisUrl, api.config.queuePrefix);
  }, 90_000);

  it('SIGTERM: the worker finishes the image in flight before it exits', async () => {
    images.route('/stopped.jpg', { body: images.images.get('/photo.jpg'), type: 'image/jpeg', delayMs: 1500 });
    const inFlight = images.nextRequest('/stopped.jpg');
    // The in-process worker from the previous test would race for the job.
    await Promise.all(contexts.splice(0).map((context) => context.close()));
    const requestId = await submit('/stopped.jpg');
    const child = spawnWorker();
    await inFlight;
    const exited = new Promise<string | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    child.kill('SIGTERM');
    // Nest re-raises the signal after its shutdown hooks, so a clean stop ends "by SIGTERM".
    expect(await exited).toBe('SIGTERM');

    // Finalizing may fall to whichever worker is left once the stopped one is gone.
    contexts.push(await createWorkerContext(loadConfig({ ...env, APP_ROLE: 'worker' })));
    const status = await waitForTerminal(api.app, requestId, 10_000);
    expect(status).toMatchObject({ status: 'completed', counts: { images: { succeeded: 1 } } });
    expect(images.hitCount('/stopped.jpg')).toBe(1);
    expect(await storedFiles(requestId)).toHaveLength(1);
  }, 30_000);
});
