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

  it('is ready before anything else has touched the database, and reports the open images and the workers', async () => {
    const response = await harness.app.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      status: 'ok',
      info: {
        database: { status: 'up', images: { dispatched: expect.any(Number), waiting: expect.any(Number) } },
        redis: { status: 'up', imageWorkers: expect.any(Number) },
        storage: { status: 'up' },
      },
    });
    const { database, redis } = response.json<ReadinessReport>().info ?? {};
    // The images are counted in PostgreSQL (this deployment's and those stored without one), Redis holds none of them.
    expect(database?.images?.dispatched).toBeGreaterThanOrEqual(0);
    expect(database?.images?.waiting).toBeGreaterThanOrEqual(0);
    expect(redis).not.toHaveProperty('imageQueue');
    expect(redis?.imageWorkers).toBeGreaterThanOrEqual(1);
  });

  it('is live', async () => {
    expect((await harness.app.inject({ method: 'GET', url: '/health/live' })).json()).toMatchObject({ status: 'ok' });
  });
});
