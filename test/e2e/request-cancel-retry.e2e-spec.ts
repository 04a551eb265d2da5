import { randomBytes } from 'node:crypto';
import type { ProductPageDto } from '../../src/products/dto/product-page.dto.js';
import type { CreatedRequestDto, RequestStatusDto } from '../../src/requests/dto/request-status.dto.js';
import type { WebhookDeliveryListDto } from '../../src/webhooks/dto/webhook-delivery.dto.js';
import type { WebhookEventDto } from '../../src/webhooks/dto/webhook-event.dto.js';
import { productCsv } from '../factories/csv.factory.js';
import { ImageServer } from '../support/image-server.js';
import { expectChunkJobsGone } from '../support/request-ledger.js';
import { TestApp, multipart, startTestApp, waitForTerminal } from '../support/test-app.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const SLOW = 60_000;

/**
 * Cancel and retry on the real PostgreSQL and Redis, with one image in
 * flight at a time (WORKER_CONCURRENCY=1) so a test knows which image a
 * worker holds when it cancels.
 */
describe('cancel and retry', () => {
  let images: ImageServer;
  let receiver: WebhookReceiver;
  let api: TestApp;

  beforeAll(async () => {
    images = await ImageServer.start();
    receiver = await WebhookReceiver.start();
    api = await startTestApp({
      WORKER_CONCURRENCY: '1',
      JOB_ATTEMPTS: '3',
      JOB_BACKOFF_MS: '50',
      WEBHOOK_SIGNING_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
      WEBHOOK_RETRY_DELAYS: '200ms,200ms',
    });
  }, SLOW);

  afterAll(async () => {
    await api?.close();
    await receiver?.close();
    await images?.close();
  });

  async function submit(paths: string[][], webhookPath: string): Promise<string> {
    const csv = productCsv(
      paths.map((urls, i) => ({ serial: i + 1, name: `P${i + 1}`, urls: urls.map((path) => images.url(path)) })),
    );
    const response = await api.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      ...multipart({ webhookUrl: receiver.url(webhookPath) }, { content: csv }),
    });
    expect(response.statusCode).toBe(202);
    return response.json<CreatedRequestDto>().requestId;
  }

  const post = (url: string) => api.app.inject({ method: 'POST', url });
  const get = (url: string) => api.app.inject({ method: 'GET', url });
  const eventOf = (hook: { body: string }) => JSON.parse(hook.body) as WebhookEventDto;

  describe('cancel while a worker is mid-image, then retry', () => {
    let requestId: string;
    const photo = () => ({ body: images.images.get('/photo.jpg'), type: 'image/jpeg' });

    beforeAll(() => {
      images.route('/cancel/held.jpg', (hit) => ({ ...photo(), delayMs: hit === 1 ? 1500 : 0 }));
      for (const name of ['a', 'b', 'c']) images.route(`/cancel/${name}.jpg`, photo());
    });

    it(
      'is cancelled at once; the image in flight is discarded and no other image is fetched afterwards',
      async () => {
        const inFlight = images.nextRequest('/cancel/held.jpg');
        requestId = await submit(
          [
            ['/cancel/held.jpg', '/cancel/a.jpg'],
            ['/cancel/b.jpg', '/cancel/c.jpg'],
          ],
          '/cancel',
        );
        await inFlight;

        const cancelled = await post(`/api/v1/requests/${requestId}/cancel`);
        expect(cancelled.statusCode).toBe(200);
        expect(cancelled.json()).toMatchObject({
          status: 'cancelled',
          completed: true,
          percent: 100,
          counts: {
            images: { total: 4, succeeded: 0, failed: 0, cancelled: 4, pending: 0 },
            products: { processed: 2 },
          },
        });

        // The held image is answered 1.5 s after it was asked for. Its chunk job leaves Redis once the
        // worker is done with it: any image that chunk went on to fetch would have been asked for by then.
        await expectChunkJobsGone(api.config.redisUrl, api.config.queuePrefix);
        expect(images.hitCount('/cancel/held.jpg')).toBe(1);
        for (const name of ['a', 'b', 'c']) expect(images.hitCount(`/cancel/${name}.jpg`)).toBe(0);
        const status = (await get(`/api/v1/requests/${requestId}`)).json<RequestStatusDto>();
        expect(status).toMatchObject({ status: 'cancelled', counts: { images: { succeeded: 0, cancelled: 4 } } });
        const products = (await get(`/api/v1/requests/${requestId}/products`)).json<ProductPageDto>();
        expect(
          products.items.flatMap((product: { images: { status: string }[] }) =>
            product.images.map((image) => image.status),
          ),
        ).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
      },
      SLOW,
    );

    it('sends one request.cancelled webhook event', async () => {
      const [hook] = await receiver.waitFor('/cancel', 1);
      expect(eventOf(hook)).toMatchObject({
        type: 'request.cancelled',
        data: { requestId, status: 'cancelled', counts: { images: { cancelled: 4, pending: 0 } } },
      });
    });

    it('keeps the export available, and answers a second cancel with the same status (idempotent)', async () => {
      const exported = await get(`/api/v1/requests/${requestId}/export`);
      expect(exported.statusCode).toBe(200);
      const again = await post(`/api/v1/requests/${requestId}/cancel`);
      expect(again.statusCode).toBe(200);
      expect(again.json()).toMatchObject({ status: 'cancelled', counts: { images: { cancelled: 4 } } });
      // A delivery is written in the cancel's own transaction, so a second event would be listed by now.
      const deliveries = (await get(`/api/v1/requests/${requestId}/webhook-deliveries`)).json<WebhookDeliveryListDto>();
      expect(deliveries.items).toHaveLength(1);
      expect(receiver.received('/cancel')).toHaveLength(1);
    });

    it(
      'retry queues the cancelled images again; the request completes with a new event and the export shows every output',
      async () => {
        const retried = await post(`/api/v1/requests/${requestId}/retry`);
        expect(retried.statusCode).toBe(202);
        expect(retried.json()).toMatchObject({
          status: 'processing',
          round: 1,
          counts: { images: { cancelled: 0, pending: 4 } },
        });

        const status = await waitForTerminal(api.app, requestId);
        expect(status).toMatchObject({
          status: 'completed',
          round: 1,
          counts: {
            images: { total: 4, succeeded: 4, failed: 0, cancelled: 0, pending: 0 },
            products: { total: 2, processed: 2 },
          },
        });
        const hooks = await receiver.waitFor('/cancel', 2);
        expect(eventOf(hooks[1])).toMatchObject({
          type: 'request.completed',
          data: { counts: { images: { succeeded: 4 } } },
        });
        expect(hooks[1].headers['webhook-id']).not.toBe(hooks[0].headers['webhook-id']);

        const csv = (await get(`/api/v1/requests/${requestId}/export`)).body;
        expect(csv.match(/http:\/\/files\.pixbatch\.test\/files\/images\//g)).toHaveLength(4);
      },
      SLOW,
    );

    it('answers 409 to a cancel of a finished request', async () => {
      const refused = await post(`/api/v1/requests/${requestId}/cancel`);
      expect(refused.statusCode).toBe(409);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(refused.json()).toMatchObject({ code: 'REQUEST_ALREADY_FINISHED', requestStatus: 'completed' });
    });
  });

  describe('retry after a 503-then-200 image server', () => {
    let requestId: string;
    let firstEventId: string;

    beforeAll(() => {
      // Three 503s use up the job's three attempts; the image host is back afterwards.
      images.route('/retry/flaky.jpg', (hit) =>
        hit <= 3
          ? { status: 503, type: 'text/plain', body: 'busy' }
          : { body: images.images.get('/photo.jpg'), type: 'image/jpeg' },
      );
      images.route('/retry/ok.jpg', { body: images.images.get('/photo2.jpg'), type: 'image/jpeg' });
      images.route('/retry/gone.jpg', { status: 404, type: 'text/plain', body: 'gone' });
    });

    it(
      'finishes with errors first: the 503 and the 404 failed',
      async () => {
        requestId = await submit([['/retry/flaky.jpg', '/retry/ok.jpg'], ['/retry/gone.jpg']], '/retry');
        const status = await waitForTerminal(api.app, requestId);
        expect(status).toMatchObject({
          status: 'completed_with_errors',
          counts: { images: { succeeded: 1, failed: 2 } },
        });
        expect(images.hitCount('/retry/flaky.jpg')).toBe(3);
        const [hook] = await receiver.waitFor('/retry', 1);
        expect(eventOf(hook).type).toBe('request.completed_with_errors');
        firstEventId = String(hook.headers['webhook-id']);
      },
      SLOW,
    );

    it(
      '?only=transient queues the 503 again, not the 404; counts stay exact and a new event is delivered',
      async () => {
        const retried = await post(`/api/v1/requests/${requestId}/retry?only=transient`);
        expect(retried.statusCode).toBe(202);
        expect(retried.json()).toMatchObject({
          status: 'processing',
          completed: false,
          counts: { images: { total: 3, succeeded: 1, failed: 1, pending: 1 } },
          webhook: { state: 'awaiting_completion' },
        });

        const status = await waitForTerminal(api.app, requestId);
        expect(status).toMatchObject({
          status: 'completed_with_errors',
          counts: { images: { total: 3, succeeded: 2, failed: 1, cancelled: 0, pending: 0 } },
        });
        expect(status.errors).toEqual([expect.objectContaining({ code: 'HTTP_404' })]);
        expect(images.hitCount('/retry/flaky.jpg')).toBe(4);
        expect(images.hitCount('/retry/gone.jpg')).toBe(1);
        expect(images.hitCount('/retry/ok.jpg')).toBe(1);

        const hooks = await receiver.waitFor('/retry', 2);
        const second = eventOf(hooks[1]);
        expect(second).toMatchObject({
          type: 'request.completed_with_errors',
          data: { counts: { images: { succeeded: 2, failed: 1 } } },
        });
        expect(hooks[1].headers['webhook-id']).not.toBe(firstEventId);
        const deliveries = (
          await get(`/api/v1/requests/${requestId}/webhook-deliveries`)
        ).json<WebhookDeliveryListDto>();
        expect(deliveries.items).toHaveLength(2);

        const products = (await get(`/api/v1/requests/${requestId}/products`)).json<ProductPageDto>();
        expect(products.items[0].images[0]).toMatchObject({ status: 'succeeded', errorCode: null });
        expect(products.items[0].images[0].outputUrl).toMatch(/^http:\/\/files\.pixbatch\.test\//);
      },
      SLOW,
    );

    it(
      'answers 422 when nothing transient is left, and 409 while the request runs',
      async () => {
        const nothing = await post(`/api/v1/requests/${requestId}/retry?only=transient`);
        expect(nothing.statusCode).toBe(422);
        expect(nothing.json()).toMatchObject({ code: 'NOTHING_TO_RETRY' });

        const bad = await post(`/api/v1/requests/${requestId}/retry?only=everything`);
        expect(bad.statusCode).toBe(400);

        images.route('/retry/held.jpg', { body: images.images.get('/photo.jpg'), type: 'image/jpeg', delayMs: 1000 });
        const running = await submit([['/retry/held.jpg']], '/retry-running');
        const refused = await post(`/api/v1/requests/${running}/retry`);
        expect(refused.statusCode).toBe(409);
        expect(refused.json()).toMatchObject({ code: 'REQUEST_NOT_FINISHED' });
        await waitForTerminal(api.app, running);
      },
      SLOW,
    );
  });
});
