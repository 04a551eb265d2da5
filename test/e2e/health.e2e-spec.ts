import { expect } from '@jest/globals';
import type { ReadinessReport } from '../support/health.js';
import { TestApp, startTestApp } from '../support/test-app.js';

describe('health probes on a freshly started process', () => {
  let harness: TestApp;

  beforeAll(async () => {
    harness = await startTestApp();
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('is ready before anything else has touched the database, and reports the queue and its workers', async () => {
    const response = await harness.app.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      status: 'ok',
      info: {
        database: { status: 'up' },
        redis: { status: 'up', imageQueue: { waiting: 0, active: 0, delayed: 0 }, imageWorkers: expect.any(Number) },
        storage: { status: 'up' },
      },
    });
    expect(response.json<ReadinessReport>().info?.redis?.imageWorkers).toBeGreaterThanOrEqual(1);
  });

  it('is live', async () => {
    expect((await harness.app.inject({ method: 'GET', url: '/health/live' })).json()).toMatchObject({ status: 'ok' });
  });
});
