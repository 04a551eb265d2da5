import { randomUUID } from 'node:crypto';
import { ModulesContainer } from '@nestjs/core';
import { RouteEntry, routesOf } from '../../src/common/route-catalog.js';
import { RequestsModule } from '../../src/requests/requests.module.js';
import { PUBLIC_ROUTES } from '../support/public-routes.js';
import { TestApp, startTestApp } from '../support/test-app.js';
import { testEnv } from '../support/test-env.js';

const WORKER_SURFACE = [/^\/health\//, /^\/metrics$/];

/**
 * The only global modules: our infrastructure (config, logs and metrics, the
 * ORM, the queues) and the libraries' own. A feature module made global would
 * hide who depends on it; one that appears here must be imported instead.
 */
const GLOBAL_MODULES = [
  'ConfigModule',
  'ObservabilityModule',
  'DatabaseModule',
  'QueueModule',
  'InternalCoreModule',
  'MikroOrmCoreModule',
  'LoggerModule',
  'BullModule',
];

/** A concrete URL for a route template: every parameter filled with a plausible value. */
function concrete(route: RouteEntry): string {
  return route.url.replace(/:[A-Za-z]+/g, () => randomUUID()).replace(/\*$/, 'images/x/y.jpg');
}

/** The routes a caller can reach (HEAD mirrors GET; OPTIONS is not routed by us). */
function reachable(app: TestApp): RouteEntry[] {
  return routesOf(app.app.getHttpAdapter().getInstance()).filter((route) => route.method !== 'HEAD');
}

function modulesOf(app: TestApp) {
  return [...app.app.get(ModulesContainer).values()];
}

describe('Each role serves only its own routes', () => {
  let api: TestApp;
  let worker: TestApp;

  beforeAll(async () => {
    const env = testEnv({ API_KEYS: 'key-one' });
    api = await startTestApp({ ...env, APP_ROLE: 'api' });
    worker = await startTestApp({ ...env, APP_ROLE: 'worker', METRICS_PORT: '0' });
  });

  afterAll(async () => {
    await worker?.close();
    await api?.close();
  });

  it('the API answers 401 without a key on every route not marked public', async () => {
    const guarded = reachable(api).filter((route) => !PUBLIC_ROUTES.some((pattern) => pattern.test(route.url)));
    // The enumeration must find the API itself, not an empty router.
    expect(guarded.map((route) => `${route.method} ${route.url}`)).toEqual(
      expect.arrayContaining(['POST /api/v1/requests', 'GET /api/v1/requests/:id', 'GET /api/v1/requests/:id/export']),
    );
    for (const route of guarded) {
      const response = await api.app.inject({ method: route.method as 'GET', url: concrete(route) });
      expect({ route: `${route.method} ${route.url}`, status: response.statusCode }).toEqual({
        route: `${route.method} ${route.url}`,
        status: 401,
      });
      expect(response.json()).toMatchObject({ code: 'API_KEY_MISSING' });
    }
  });

  it('a worker with METRICS_PORT registers only /health and /metrics', () => {
    const outside = reachable(worker).filter((route) => !WORKER_SURFACE.some((pattern) => pattern.test(route.url)));
    expect(outside).toEqual([]);
    expect(reachable(worker).map((route) => route.url)).toEqual(
      expect.arrayContaining(['/health/live', '/health/ready', '/metrics']),
    );
  });

  it("a worker with METRICS_PORT answers 404 on every one of the API's routes", async () => {
    const apiOnly = reachable(api).filter((route) => !WORKER_SURFACE.some((pattern) => pattern.test(route.url)));
    expect(apiOnly.length).toBeGreaterThan(10);
    for (const route of apiOnly) {
      const response = await worker.app.inject({ method: route.method as 'GET', url: concrete(route) });
      expect({ route: `${route.method} ${route.url}`, status: response.statusCode }).toEqual({
        route: `${route.method} ${route.url}`,
        status: 404,
      });
    }
  });

  it('no feature module is global, and each role builds RequestsModule once', async () => {
    const all = await startTestApp({ API_KEYS: 'key-one', APP_ROLE: 'all' });
    try {
      for (const app of [api, worker, all]) {
        const modules = modulesOf(app);
        const globals = modules.filter((module) => module.isGlobal).map((module) => module.name);
        expect(globals.filter((name) => !GLOBAL_MODULES.includes(name))).toEqual([]);
        // Two would hold two of each of its providers: two counter watches (RequestEventHub) in one API process.
        expect(
          modules.filter((module) => module.metatype === RequestsModule).map((module) => module.token),
        ).toHaveLength(1);
      }
    } finally {
      await all.close();
    }
  });
});
