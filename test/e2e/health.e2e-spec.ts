import { expect, jest } from '@jest/globals';
import { PROBE_INTERVAL_MS } from '../../src/health/readiness-probes.js';
import { JobQueue } from '../../src/queue/job-queue.service.js';
import { StorageDriver } from '../../src/storage/storage.driver.js';
import { TestApp, startTestApp } from '../support/test-app.js';

describe('health probes on a freshly started process', () => {
  let harness: TestApp;

  beforeAll(async () => {
    harness = await startTestApp();
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('is ready once its probes have run, and says nothing of the work', async () => {
    const response = await harness.app.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      status: 'ok',
      info: { database: { status: 'up' }, redis: { status: 'up' }, storage: { status: 'up' } },
    });
    // Queue depth and worker counts are for /metrics, not for a public probe.
    expect(response.body).not.toMatch(/images|workers/i);
  });

  it('answers 1 000 calls from the last probes: no storage or Redis request of their own', async () => {
    const storage = harness.app.get(StorageDriver);
    const queue = harness.app.get(JobQueue);
    const calls = [
      jest.spyOn(storage, 'checkWritable'),
      jest.spyOn(storage, 'checkReachable'),
      jest.spyOn(storage, 'put'),
      jest.spyOn(queue, 'ping'),
    ];
    try {
      const started = performance.now();
      for (let call = 0; call < 1000; call++) {
        expect((await harness.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
      }
      // Only the probes' own rounds ran meanwhile: one storage check (a read, or the minute's write) and one PING each.
      const rounds = 1 + Math.ceil((performance.now() - started) / PROBE_INTERVAL_MS);
      const [writes, reads, puts, pings] = calls.map((spy) => spy.mock.calls.length);
      expect(writes + reads).toBeLessThanOrEqual(rounds);
      expect(puts).toBe(writes);
      expect(pings).toBeLessThanOrEqual(rounds);
    } finally {
      for (const spy of calls) spy.mockRestore();
    }
  });

  it('moves the open images and the workers to /metrics', async () => {
    const metrics = (await harness.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^pixbatch_images_open\{state="waiting"\} \d+$/m);
    expect(metrics).toMatch(/^pixbatch_images_open\{state="dispatched"\} \d+$/m);
    expect(Number(/^pixbatch_image_workers (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
  });

  it('is live', async () => {
    expect((await harness.app.inject({ method: 'GET', url: '/health/live' })).json()).toMatchObject({ status: 'ok' });
  });
});
