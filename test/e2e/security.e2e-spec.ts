import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { routesOf } from '../../src/common/route-catalog.js';
import { PUBLIC_ROUTES } from '../support/public-routes.js';
import { TestApp, startTestApp } from '../support/test-app.js';
import { testEnv } from '../support/test-env.js';

const UNKNOWN = '/api/v1/requests/00000000-0000-4000-8000-000000000000';

describe('API keys, rate limits and security headers', () => {
  let env: Record<string, string>;
  let first: TestApp;
  let second: TestApp;

  beforeAll(async () => {
    // Two API instances on one Redis prefix: the limit must hold across both.
    env = testEnv({ API_KEYS: 'one:key-one, two:key-two', RATE_LIMIT_PER_MINUTE: '4', APP_ROLE: 'api' });
    first = await startTestApp(env);
    second = await startTestApp(env);
  });

  afterAll(async () => {
    await second?.close();
    await first?.close();
  });

  it('refuses a request without an API key, or with a wrong one', async () => {
    const missing = await first.app.inject({ method: 'POST', url: '/api/v1/requests' });
    expect(missing.statusCode).toBe(401);
    expect(missing.json()).toMatchObject({ code: 'API_KEY_MISSING' });
    const wrong = await first.app.inject({ method: 'GET', url: UNKNOWN, headers: { 'x-api-key': 'key-three' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ code: 'API_KEY_INVALID' });
  });

  it('lets a valid key through and keeps probes, docs and files open', async () => {
    const allowed = await first.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      headers: { 'x-api-key': 'key-two' },
    });
    expect(allowed.json()).toMatchObject({ status: 400, code: 'NOT_MULTIPART' });
    expect((await first.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect((await first.app.inject({ method: 'GET', url: '/docs-json' })).statusCode).toBe(200);
    expect((await first.app.inject({ method: 'GET', url: '/files/images/x/y.jpg' })).json()).toMatchObject({
      code: 'FILE_NOT_FOUND',
    });
  });

  it('limits each tenant across instances and answers 429 with Retry-After', async () => {
    const get = (app: TestApp, key: string) =>
      app.app.inject({ method: 'GET', url: UNKNOWN, headers: { 'x-api-key': key } });
    const codes = [];
    for (const app of [first, second, first, second, first]) codes.push((await get(app, 'key-one')).statusCode);
    expect(codes).toEqual([404, 404, 404, 404, 429]);
    const limited = await get(second, 'key-one');
    expect(limited.json()).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another tenant has a budget of its own.
    expect((await get(first, 'key-two')).statusCode).toBe(404);
  });

  it('sends security headers', async () => {
    const response = await first.app.inject({ method: 'GET', url: '/health/live' });
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['content-security-policy']).toContain("default-src 'self'");
  });
});

/** The app on a real loopback socket: its base URL. */
async function listen(harness: TestApp): Promise<string> {
  await harness.app.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${(harness.app.getHttpServer().address() as AddressInfo).port}`;
}

async function call(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  const type = response.headers.get('content-type') ?? '';
  const body = /json/.test(type) ? ((await response.json()) as Record<string, unknown>) : await response.text();
  return { status: response.status, type, headers: response.headers, body };
}

const REMOTE = { 'x-forwarded-for': '203.0.113.7' };

describe.each([
  ['TRUST_PROXY off', {}],
  ['TRUST_PROXY on', { TRUST_PROXY: 'true' }],
])('Protected mode without API_KEYS (%s), over HTTP', (_, trust: Record<string, string>) => {
  let harness: TestApp;
  let base: string;

  beforeAll(async () => {
    harness = await startTestApp({ APP_ROLE: 'api', ...trust });
    base = await listen(harness);
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('serves a loopback client and refuses one behind a proxy with 403 PROTECTED_MODE', async () => {
    expect((await call(`${base}/api/v1/requests`)).status).toBe(200);
    for (const headers of [REMOTE, { forwarded: 'for=203.0.113.7;proto=https' }, { 'x-forwarded-for': '127.0.0.1' }]) {
      const refused = await call(`${base}/api/v1/requests`, { headers });
      expect(refused.status).toBe(403);
      expect(refused.type).toContain('application/problem+json');
      expect(refused.body).toMatchObject({ status: 403, code: 'PROTECTED_MODE' });
      expect(String((refused.body as { detail: string }).detail)).toMatch(/API_KEYS.*PROTECTED_MODE=off/s);
    }
  });

  it('keeps probes, docs, output files, the page and how access works open to a remote client', async () => {
    expect((await call(`${base}/health/live`, { headers: REMOTE })).status).toBe(200);
    expect((await call(`${base}/docs-json`, { headers: REMOTE })).status).toBe(200);
    expect((await call(`${base}/files/images/x/y.jpg`, { headers: REMOTE })).body).toMatchObject({
      code: 'FILE_NOT_FOUND',
    });
    const page = await call(`${base}/`, { headers: REMOTE });
    expect(page.status).toBe(200);
    expect(page.type).toContain('text/html'); // How access works, so the page can say so before its first call is refused.
    const access = await call(`${base}/api/v1/access`, { headers: REMOTE });
    expect(access.body).toEqual({
      mode: 'protected',
      apiKeyRequired: false,
      apiKeyHeader: 'x-api-key',
      clientAllowed: false,
    });
    expect((await call(`${base}/api/v1/access`)).body).toMatchObject({ clientAllowed: true });
  });

  it('refuses every API route to a remote client, whatever it names', async () => {
    const routes = routesOf(harness.app.getHttpAdapter().getInstance()).filter(
      (route) => route.method !== 'HEAD' && !PUBLIC_ROUTES.some((pattern) => pattern.test(route.url)),
    );
    expect(routes.length).toBeGreaterThan(10);
    for (const route of routes) {
      const url = route.url.replace(/:([A-Za-z]+)/g, () => randomUUID());
      const response = await harness.app.inject({ method: route.method as 'GET', url, headers: REMOTE });
      expect({ route: `${route.method} ${route.url}`, code: response.json<{ code: string }>().code }).toEqual({
        route: `${route.method} ${route.url}`,
        code: 'PROTECTED_MODE',
      });
    }
  });
});

describe('PROTECTED_MODE=off without API_KEYS', () => {
  it('serves a client behind a proxy', async () => {
    const harness = await startTestApp({ APP_ROLE: 'api', PROTECTED_MODE: 'off' });
    try {
      const base = await listen(harness);
      expect((await call(`${base}/api/v1/requests`, { headers: REMOTE })).status).toBe(200);
    } finally {
      await harness.close();
    }
  });
});

describe('Rate limits that no header can dodge, over HTTP', () => {
  const UNKNOWN_REQUEST = '/api/v1/requests/00000000-0000-4000-8000-000000000000';

  it('without API_KEYS, a new random key per request draws on the same address budget', async () => {
    const harness = await startTestApp({ APP_ROLE: 'api', RATE_LIMIT_PER_MINUTE: '3' });
    try {
      const base = await listen(harness);
      const statuses = [];
      for (let i = 0; i < 4; i++) {
        statuses.push((await call(`${base}/api/v1/requests`, { headers: { 'x-api-key': randomUUID() } })).status);
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await harness.close();
    }
  });

  describe('with API_KEYS', () => {
    let harness: TestApp;
    let base: string;

    beforeAll(async () => {
      harness = await startTestApp({
        APP_ROLE: 'api',
        API_KEYS: 'alice:alice-key,bob:bob-key',
        RATE_LIMIT_PER_MINUTE: '3',
        UPLOAD_RATE_LIMIT_PER_MINUTE: '1',
        WRITE_RATE_LIMIT_PER_MINUTE: '1',
      });
      base = await listen(harness);
    });

    afterAll(async () => {
      await harness?.close();
    });

    it('meets a burst of wrong and missing keys with 429 and Retry-After, and still serves a valid key', async () => {
      const attempts = [];
      for (const key of ['guess-1', 'guess-2', undefined, 'guess-3']) {
        attempts.push(await call(`${base}${UNKNOWN_REQUEST}`, { headers: key ? { 'x-api-key': key } : {} }));
      }
      expect(attempts.map((attempt) => attempt.status)).toEqual([401, 401, 401, 429]);
      expect(attempts[3].body).toMatchObject({ code: 'RATE_LIMITED', rateLimit: 'requests' });
      expect(Number(attempts[3].headers.get('retry-after'))).toBeGreaterThan(0);
      const served = await call(`${base}${UNKNOWN_REQUEST}`, { headers: { 'x-api-key': 'bob-key' } });
      expect(served.body).toMatchObject({ code: 'REQUEST_NOT_FOUND' });
    });

    it('answers a cancel beyond its budget with 429 naming the writes limit, and leaves uploads their own', async () => {
      const as = { 'x-api-key': 'alice-key' };
      const cancel = () => call(`${base}${UNKNOWN_REQUEST}/cancel`, { method: 'POST', headers: as });
      expect((await cancel()).status).toBe(404);
      const limited = await cancel();
      expect(limited.status).toBe(429);
      expect(limited.body).toMatchObject({ code: 'RATE_LIMITED', rateLimit: 'writes', title: 'Too many writes' });
      expect(String((limited.body as { detail: string }).detail)).toMatch(/WRITE_RATE_LIMIT_PER_MINUTE/);
      expect(limited.headers.get('x-ratelimit-limit')).toBe('1');
      expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      // Uploads draw on a budget of their own, which the cancels left whole.
      const upload = await call(`${base}/api/v1/requests`, { method: 'POST', headers: as });
      expect(upload.body).toMatchObject({ code: 'NOT_MULTIPART' });
      expect(upload.headers.get('x-ratelimit-limit')).toBe('1');
      expect(upload.headers.get('x-ratelimit-remaining')).toBe('0');
    });
  });
});
