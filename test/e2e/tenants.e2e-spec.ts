import { randomUUID } from 'node:crypto';
import { EntityManager } from '@mikro-orm/postgresql';
import type { ProblemDocumentDto } from '../../src/common/problem-document.dto.js';
import { RouteEntry, routesOf } from '../../src/common/route-catalog.js';
import type { RequestListDto } from '../../src/requests/dto/request-list.dto.js';
import type { CreatedRequestDto, RequestStatusDto } from '../../src/requests/dto/request-status.dto.js';
import { productCsv } from '../factories/csv.factory.js';
import { seedRequest } from '../factories/request.factory.js';
import { ImageServer } from '../support/image-server.js';
import { PUBLIC_ROUTES } from '../support/public-routes.js';
import { TestApp, multipart, startTestApp } from '../support/test-app.js';
import { waitUntil } from '../support/wait-until.js';

// Besides the routes open to everyone (PUBLIC_ROUTES), the ones that name no
// existing request (they create one, or list the caller's own). Every other
// route must name a request and so be subject to the tenant check; a new route
// that names a request some other way fails the walk below.
const NAMES_NO_REQUEST = [
  'POST /api/v1/requests',
  'POST /api/v1/requests/validate',
  'GET /api/v1/requests',
  'POST /upload',
  'POST /upload/',
  'POST /api/upload',
  'POST /api/upload/',
];

const suffix = randomUUID().slice(0, 8);
const ALICE = `alice-${suffix}`;
const BOB = `bob-${suffix}`;
const KEYS = { alice: `a1-${suffix}`, aliceRotated: `a2-${suffix}`, bob: `b1-${suffix}`, unnamed: `u-${suffix}` };

describe('Tenants: one per named API key, and none sees another tenant’s requests', () => {
  let images: ImageServer;
  let api: TestApp;
  let aliceRequest: string;

  const as = (key: string) => ({ 'x-api-key': key });

  async function upload(key: string, headers: Record<string, string> = {}) {
    const csv = productCsv([{ serial: 1, name: 'SKU1', urls: [images.url('/photo.jpg')] }]);
    const body = multipart({}, { content: csv });
    return api.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      payload: body.payload,
      headers: { ...body.headers, ...as(key), ...headers },
    });
  }

  function reachable(): RouteEntry[] {
    return routesOf(api.app.getHttpAdapter().getInstance()).filter(
      (route) => route.method !== 'HEAD' && !PUBLIC_ROUTES.some((pattern) => pattern.test(route.url)),
    );
  }

  /** The route with the request id wherever a request is named, and fresh ids in other parameters. */
  function aimedAt(route: RouteEntry, requestId: string): string {
    const path = route.url.replace(/:([A-Za-z]+)/g, (_, name: string) => (name === 'id' ? requestId : randomUUID()));
    return path === '/api/status' ? `${path}?request_id=${requestId}` : path;
  }

  beforeAll(async () => {
    images = await ImageServer.start();
    api = await startTestApp({
      API_KEYS: `${ALICE}:${KEYS.alice},${BOB}:${KEYS.bob},${ALICE}:${KEYS.aliceRotated},${KEYS.unnamed}`,
    });
    const created = await upload(KEYS.alice);
    expect(created.statusCode).toBe(202);
    aliceRequest = created.json<CreatedRequestDto>().requestId;
    await waitUntil(
      'the request to finish',
      async () => {
        const status = await api.app.inject({
          method: 'GET',
          url: `/api/v1/requests/${aliceRequest}`,
          headers: as(KEYS.alice),
        });
        return status.json<RequestStatusDto>().completed === true;
      },
      30_000,
    );
  });

  afterAll(async () => {
    await api?.close();
    await images?.close();
  });

  it('every route that names a request answers 404 to another tenant, and the request is untouched', async () => {
    const routes = reachable();
    expect(routes.length).toBeGreaterThan(10);
    const walked: string[] = [];
    for (const route of routes) {
      const name = `${route.method} ${route.url}`;
      if (NAMES_NO_REQUEST.includes(name)) continue;
      const response = await api.app.inject({
        method: route.method as 'GET',
        url: aimedAt(route, aliceRequest),
        headers: as(KEYS.bob),
      });
      expect({ route: name, status: response.statusCode, code: response.json<ProblemDocumentDto>().code }).toEqual({
        route: name,
        status: 404,
        code: 'REQUEST_NOT_FOUND',
      });
      expect(response.headers['content-type']).toContain('application/problem+json');
      walked.push(name);
    }
    // The walk must include the original-design aliases and the routes that change a request.
    expect(walked).toEqual(
      expect.arrayContaining([
        'GET /api/v1/requests/:id',
        'GET /api/v1/requests/:id/products',
        'GET /api/v1/requests/:id/export',
        'GET /api/v1/requests/:id/webhook-deliveries',
        'POST /api/v1/requests/:id/webhook-deliveries/:deliveryId/redeliver',
        'DELETE /api/v1/requests/:id',
        'GET /status/:id',
        'GET /api/status',
        'GET /export/:id',
      ]),
    );
    const status = await api.app.inject({
      method: 'GET',
      url: `/api/v1/requests/${aliceRequest}`,
      headers: as(KEYS.alice),
    });
    expect(status.statusCode).toBe(200);
  });

  it('the owner reaches the same routes, with either of its keys', async () => {
    for (const route of reachable()) {
      const name = `${route.method} ${route.url}`;
      if (NAMES_NO_REQUEST.includes(name) || route.method === 'DELETE') continue;
      for (const key of [KEYS.alice, KEYS.aliceRotated]) {
        const response = await api.app.inject({
          method: route.method as 'GET',
          url: aimedAt(route, aliceRequest),
          headers: as(key),
        });
        expect({
          route: name,
          code: response.statusCode < 400 ? 'ok' : response.json<ProblemDocumentDto>().code,
        }).not.toEqual({
          route: name,
          code: 'REQUEST_NOT_FOUND',
        });
      }
    }
  });

  it("lists only the caller's own requests", async () => {
    const ids = async (key: string) =>
      (await api.app.inject({ method: 'GET', url: '/api/v1/requests?limit=200', headers: as(key) }))
        .json<RequestListDto>()
        .items.map((item) => item.requestId);
    expect(await ids(KEYS.aliceRotated)).toContain(aliceRequest);
    expect(await ids(KEYS.bob)).not.toContain(aliceRequest);
  });

  it('unnamed keys share the default tenant, which owns requests made before tenants', async () => {
    const em = api.app.get(EntityManager).fork();
    // Inserted without a tenant, as every row was before the migration.
    const { requestId } = await seedRequest(em, [1]);
    try {
      const get = (key: string) =>
        api.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}`, headers: as(key) });
      expect((await get(KEYS.unnamed)).statusCode).toBe(200);
      expect((await get(KEYS.alice)).statusCode).toBe(404);
    } finally {
      await em.execute('DELETE FROM processing_request WHERE id = ?', [requestId]);
    }
  });

  it('records the tenant of the key that uploaded, and scopes Idempotency-Keys per tenant', async () => {
    const idempotencyKey = randomUUID();
    const first = await upload(KEYS.alice, { 'idempotency-key': idempotencyKey });
    expect(first.statusCode).toBe(202);
    // The rotated key is the same tenant: a replay, not a second request.
    const replay = await upload(KEYS.aliceRotated, { 'idempotency-key': idempotencyKey });
    expect(replay.json<CreatedRequestDto>().requestId).toBe(first.json<CreatedRequestDto>().requestId);
    // Another tenant's identical key is its own upload.
    const other = await upload(KEYS.bob, { 'idempotency-key': idempotencyKey });
    expect(other.statusCode).toBe(202);
    expect(other.json<CreatedRequestDto>().requestId).not.toBe(first.json<CreatedRequestDto>().requestId);
    const owners = await api.app
      .get(EntityManager)
      .fork()
      .execute<{ id: string; tenant: string }[]>('SELECT id, tenant FROM processing_request WHERE id IN (?, ?)', [
        first.json<CreatedRequestDto>().requestId,
        other.json<CreatedRequestDto>().requestId,
      ]);
    expect(Object.fromEntries(owners.map((row) => [row.id, row.tenant]))).toEqual({
      [first.json<CreatedRequestDto>().requestId]: ALICE,
      [other.json<CreatedRequestDto>().requestId]: BOB,
    });
  });
});
