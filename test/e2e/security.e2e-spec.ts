import { TestApp, startTestApp } from '../support/test-app.js';
import { testEnv } from '../support/test-env.js';

const UNKNOWN = '/api/v1/requests/00000000-0000-4000-8000-000000000000';

describe('API keys, rate limits and security headers', () => {
  let env: Record<string, string>;
  let first: TestApp;
  let second: TestApp;

  beforeAll(async () => {
    // Two API instances on one Redis prefix: the limit must hold across both.
    env = testEnv({ API_KEYS: 'key-one, key-two', RATE_LIMIT_PER_MINUTE: '4', APP_ROLE: 'api' });
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

  it('limits each key across instances and answers 429 with Retry-After', async () => {
    const get = (app: TestApp, key: string) =>
      app.app.inject({ method: 'GET', url: UNKNOWN, headers: { 'x-api-key': key } });
    const codes = [];
    for (const app of [first, second, first, second, first]) codes.push((await get(app, 'key-one')).statusCode);
    expect(codes).toEqual([404, 404, 404, 404, 429]);
    const limited = await get(second, 'key-one');
    expect(limited.json()).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another key has a budget of its own.
    expect((await get(first, 'key-two')).statusCode).toBe(404);
  });

  it('sends security headers', async () => {
    const response = await first.app.inject({ method: 'GET', url: '/health/live' });
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['content-security-policy']).toContain("default-src 'self'");
  });
});
