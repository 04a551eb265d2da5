import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from '@jest/globals';
import { MikroORM } from '@mikro-orm/postgresql';
import { getQueueToken } from '@nestjs/bullmq';
import { INestApplicationContext } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Queue } from 'bullmq';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { createWorkerContext } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config/app-config.js';
import { JobName, QueueName } from '../../src/queue/queue.constants.js';
import type { CreatedRequestDto, RequestStatusDto } from '../../src/requests/dto/request-status.dto.js';
import type { WebhookDeliveryDto, WebhookDeliveryListDto } from '../../src/webhooks/dto/webhook-delivery.dto.js';
import { WebhookDeliveryRepository } from '../../src/webhooks/webhook-delivery.repository.js';
import { WebhookSweeper } from '../../src/webhooks/webhook-sweeper.service.js';
import { productCsv } from '../factories/csv.factory.js';
import { seedRequest } from '../factories/request.factory.js';
import { ImageServer } from '../support/image-server.js';
import * as openapi from '../support/openapi.js';
import { TestApp, multipart, startTestApp, waitForTerminal } from '../support/test-app.js';
import { testEnv } from '../support/test-env.js';
import { ReceivedWebhook, WebhookReceiver } from '../support/webhook-receiver.js';

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
const SECRET = newSecret();
// The first retry waits over a second so that its webhook-timestamp (whole
// seconds) differs from the first attempt's; the others are quick.
const WEBHOOK_ENV = {
  WEBHOOK_SIGNING_SECRET: SECRET,
  WEBHOOK_RETRY_DELAYS: '1s,200ms,200ms',
  WEBHOOK_TIMEOUT_MS: '1000',
  WEBHOOK_SWEEP_INTERVAL_MS: '300',
  // These tests poll the API many times a minute.
  RATE_LIMIT_PER_MINUTE: '0',
  UPLOAD_RATE_LIMIT_PER_MINUTE: '0',
};
const FINISHED = ['delivered', 'failed', 'exhausted'];
// jest's per-project testTimeout does not reach these tests; waits on retries need more than its 5 s default.
const SLOW = 30_000;

function verify(received: ReceivedWebhook, secret = SECRET): unknown {
  return new Webhook(secret).verify(received.body, received.headers as Record<string, string>);
}

async function upload(app: NestFastifyApplication, csv: string, fields: Record<string, string>) {
  return app.inject({ method: 'POST', url: '/api/v1/requests', ...multipart(fields, { content: csv }) });
}

async function listDeliveries(app: NestFastifyApplication, requestId: string): Promise<WebhookDeliveryDto[]> {
  const response = await app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}/webhook-deliveries` });
  expect(response.statusCode).toBe(200);
  return response.json<WebhookDeliveryListDto>().items;
}

/** Polls the delivery log until the request's delivery is finished, with no attempt in flight. */
async function finishedDelivery(
  app: NestFastifyApplication,
  requestId: string,
  timeoutMs = 15_000,
): Promise<WebhookDeliveryDto> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [delivery] = await listDeliveries(app, requestId);
    if (delivery && FINISHED.includes(delivery.status) && delivery.attempts.every((attempt) => attempt.finishedAt)) {
      return delivery;
    }
    if (Date.now() > deadline) throw new Error(`Delivery of ${requestId} not finished: ${JSON.stringify(delivery)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Nothing can send the delivery again: the sweep finds nothing due for it and no
 * job for it waits, is delayed or runs. Checked on that state rather than by
 * waiting a while for a send that, on a slow machine, would come later still.
 */
async function expectNothingLeftToSend(app: INestApplicationContext, deliveryId: string): Promise<void> {
  const queue = app.get<Queue>(getQueueToken(QueueName.Webhooks));
  const jobs = await queue.getJobs(['waiting', 'delayed', 'active', 'prioritized']);
  expect(jobs.filter((job) => (job?.data as { deliveryId?: string } | undefined)?.deliveryId === deliveryId)).toEqual(
    [],
  );
  const due = await app.get(WebhookDeliveryRepository).findDue(10_000);
  expect(due.map((delivery) => delivery.id)).not.toContain(deliveryId);
}

describe('signed webhooks', () => {
  let images: ImageServer;
  let receiver: WebhookReceiver;
  let harness: TestApp;
  let photoCsv: string;

  beforeAll(async () => {
    images = await ImageServer.start();
    receiver = await WebhookReceiver.start();
    harness = await startTestApp(WEBHOOK_ENV);
    photoCsv = productCsv([{ serial: 1, name: 'Photo', urls: [images.url('/photo.jpg')] }]);
  }, SLOW);

  afterAll(async () => {
    await harness?.close();
    await receiver?.close();
    await images?.close();
  });

  /** Uploads a one-image CSV registering `receiver.url(path)`; resolves with the request id once it is terminal. */
  async function completedRequestWithWebhook(path: string, fields: Record<string, string> = {}): Promise<string> {
    const response = await upload(harness.app, photoCsv, { webhookUrl: receiver.url(path), ...fields });
    expect(response.statusCode).toBe(202);
    const { requestId } = response.json<CreatedRequestDto>();
    await waitForTerminal(harness.app, requestId);
    return requestId;
  }

  describe('delivery', () => {
    let requestId: string;
    let delivery: WebhookDeliveryDto;

    beforeAll(async () => {
      // A chatty receiver: only the start of its answer may be read and kept.
      receiver.respond('/ok', { status: 200, body: 'x'.repeat(256 * 1024) });
      requestId = await completedRequestWithWebhook('/ok');
      delivery = await finishedDelivery(harness.app, requestId);
    }, SLOW);

    it('a receiver answering 200 gets one attempt whose signature verifies with standardwebhooks', async () => {
      const [received] = await receiver.waitFor('/ok', 1);
      expect(receiver.received('/ok')).toHaveLength(1);
      expect(received.headers['content-type']).toBe('application/json');
      expect(received.headers['webhook-id']).toBe(delivery.eventId);
      expect(received.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);

      const event = verify(received);
      expect(event).toEqual({
        type: 'request.completed',
        timestamp: expect.any(String),
        data: {
          requestId,
          status: 'completed',
          counts: {
            products: { total: 1, processed: 1 },
            images: {
              total: 1,
              succeeded: 1,
              failed: 0,
              cancelled: 0,
              pending: 0,
              fetched: 1,
              revalidated: 0,
              reused: 0,
            },
          },
          createdAt: expect.any(String),
          completedAt: expect.any(String),
          links: {
            status: `http://files.pixbatch.test/api/v1/requests/${requestId}`,
            export: `http://files.pixbatch.test/api/v1/requests/${requestId}/export`,
          },
        },
      });
      expect(delivery).toMatchObject({
        status: 'delivered',
        attemptCount: 1,
        eventType: 'request.completed',
        payload: event,
      });
      expect(delivery.attempts).toEqual([
        expect.objectContaining({ number: 1, manual: false, statusCode: 200, errorCode: null, nextAttemptAt: null }),
      ]);
    });

    it('reads no more than a few KB of the response body', () => {
      expect(delivery.attempts[0].responseBody!.length).toBeGreaterThan(0);
      expect(delivery.attempts[0].responseBody!.length).toBeLessThanOrEqual(4096);
    });

    it('shows the webhook state on the request status', async () => {
      const status = (
        await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}` })
      ).json<RequestStatusDto>();
      expect(status.webhook).toMatchObject({
        url: receiver.url('/ok'),
        events: ['request.completed', 'request.completed_with_errors', 'request.failed', 'request.cancelled'],
        state: 'delivered',
        attempts: 1,
        nextAttemptAt: null,
        deliveredAt: expect.any(String),
        deliveries: `/api/v1/requests/${requestId}/webhook-deliveries`,
      });
    });

    it('its signature is our own: a tampered body or another secret is rejected', () => {
      const [received] = receiver.received('/ok');
      const tampered = { ...received, body: received.body.replace('"completed"', '"failed"') };
      expect(tampered.body).not.toBe(received.body);
      expect(() => verify(tampered)).toThrow(WebhookVerificationError);
      expect(() => verify(received, newSecret())).toThrow(WebhookVerificationError);
      const otherId = { ...received, headers: { ...received.headers, 'webhook-id': `msg_${randomUUID()}` } };
      expect(() => verify(otherId)).toThrow(WebhookVerificationError);
    });

    it(
      'a manual redelivery sends the same event id and body again, newly signed',
      async () => {
        const response = await harness.app.inject({
          method: 'POST',
          url: `/api/v1/requests/${requestId}/webhook-deliveries/${delivery.id}/redeliver`,
        });
        expect(response.statusCode).toBe(202);
        expect(response.json()).toMatchObject({ id: delivery.id, eventId: delivery.eventId, status: 'pending' });

        const [first, second] = await receiver.waitFor('/ok', 2);
        expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
        expect(second.body).toBe(first.body);
        expect(verify(second)).toEqual(verify(first));
        const after = await finishedDelivery(harness.app, requestId);
        expect(after).toMatchObject({ status: 'delivered', attemptCount: 2, attemptsAllowed: 2 });
        expect(after.attempts.map((attempt) => [attempt.number, attempt.manual, attempt.statusCode])).toEqual([
          [1, false, 200],
          [2, true, 200],
        ]);
      },
      SLOW,
    );

    it('answers 404 for a delivery of another request and 400 for a malformed id', async () => {
      const unknown = await harness.app.inject({
        method: 'POST',
        url: `/api/v1/requests/${requestId}/webhook-deliveries/${randomUUID()}/redeliver`,
      });
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json()).toMatchObject({ code: 'WEBHOOK_DELIVERY_NOT_FOUND' });
      const malformed = await harness.app.inject({
        method: 'POST',
        url: `/api/v1/requests/${requestId}/webhook-deliveries/nope/redeliver`,
      });
      expect(malformed.json()).toMatchObject({ status: 400, code: 'INVALID_ID' });
      const noRequest = await harness.app.inject({
        method: 'GET',
        url: `/api/v1/requests/${randomUUID()}/webhook-deliveries`,
      });
      expect(noRequest.json()).toMatchObject({ status: 404, code: 'REQUEST_NOT_FOUND' });
    });
  });

  it(
    '500 then 200: two attempts with the same webhook-id and a new timestamp and signature',
    async () => {
      receiver.respond('/flaky', (hit) => (hit === 1 ? { status: 500, body: 'database down' } : { status: 200 }));
      const requestId = await completedRequestWithWebhook('/flaky');
      const delivery = await finishedDelivery(harness.app, requestId);

      const [first, second] = receiver.received('/flaky');
      expect(receiver.received('/flaky')).toHaveLength(2);
      expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
      expect(Number(second.headers['webhook-timestamp'])).toBeGreaterThan(Number(first.headers['webhook-timestamp']));
      expect(second.headers['webhook-signature']).not.toBe(first.headers['webhook-signature']);
      expect(verify(second)).toEqual(verify(first));

      expect(delivery).toMatchObject({ status: 'delivered', attemptCount: 2 });
      const [failed, succeeded] = delivery.attempts;
      expect(failed).toMatchObject({ statusCode: 500, errorCode: 'HTTP_500', responseBody: 'database down' });
      expect(failed.nextAttemptAt).not.toBeNull();
      // 1 s from the schedule, plus up to 20 % jitter.
      const waited = Date.parse(succeeded.startedAt) - Date.parse(failed.finishedAt!);
      expect(waited).toBeGreaterThanOrEqual(950);
      expect(succeeded).toMatchObject({ statusCode: 200, errorCode: null });
    },
    SLOW,
  );

  it(
    'a receiver that hangs: the attempt times out and is retried',
    async () => {
      receiver.respond('/hang', (hit) => (hit === 1 ? { hang: true } : { status: 204 }));
      const requestId = await completedRequestWithWebhook('/hang');
      const delivery = await finishedDelivery(harness.app, requestId);

      expect(delivery).toMatchObject({ status: 'delivered', attemptCount: 2 });
      const [timedOut, succeeded] = delivery.attempts;
      expect(timedOut).toMatchObject({ statusCode: null, errorCode: 'TIMEOUT' });
      expect(timedOut.durationMs).toBeGreaterThanOrEqual(950);
      expect(timedOut.durationMs).toBeLessThan(3000);
      expect(succeeded).toMatchObject({ statusCode: 204 });
      const ids = receiver.received('/hang').map((received) => received.headers['webhook-id']);
      expect(new Set(ids).size).toBe(1);
    },
    SLOW,
  );

  it(
    '410 Gone stops the delivery: no further attempts',
    async () => {
      receiver.respond('/gone', { status: 410, body: 'unsubscribed' });
      const requestId = await completedRequestWithWebhook('/gone');
      const delivery = await finishedDelivery(harness.app, requestId);
      await expectNothingLeftToSend(harness.app, delivery.id);

      expect(receiver.received('/gone')).toHaveLength(1);
      expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1, lastStatusCode: 410 });
      expect(delivery.attempts).toEqual([
        expect.objectContaining({ statusCode: 410, errorCode: 'HTTP_410', nextAttemptAt: null }),
      ]);
      expect((await listDeliveries(harness.app, requestId))[0]).toMatchObject({ status: 'failed', attemptCount: 1 });
    },
    SLOW,
  );

  it('counts attempts by outcome in /metrics', async () => {
    const text = (await harness.app.inject({ method: 'GET', url: '/metrics' })).body;
    const count = (outcome: string) =>
      Number(
        text.match(new RegExp(`^pixbatch_webhook_attempts_total\\{outcome="${outcome}"\\} (\\d+)`, 'm'))?.[1] ?? 0,
      );
    // The tests above delivered events, retried after a 500, and stopped on a 410.
    expect(count('delivered')).toBeGreaterThan(0);
    expect(count('retrying')).toBeGreaterThan(0);
    expect(count('failed')).toBeGreaterThan(0);
  });

  it(
    '301 is a failure and is not followed; every attempt fails and the delivery ends exhausted',
    async () => {
      receiver.respond('/moved', { status: 301, headers: { location: receiver.url('/new-home') } });
      const requestId = await completedRequestWithWebhook('/moved');

      // While its retries are scheduled, a redelivery is refused.
      await receiver.waitFor('/moved', 1);
      const [pending] = await listDeliveries(harness.app, requestId);
      const early = await harness.app.inject({
        method: 'POST',
        url: `/api/v1/requests/${requestId}/webhook-deliveries/${pending.id}/redeliver`,
      });
      expect(early.statusCode).toBe(409);
      expect(early.json()).toMatchObject({ code: 'WEBHOOK_DELIVERY_IN_PROGRESS' });

      const delivery = await finishedDelivery(harness.app, requestId);
      expect(delivery).toMatchObject({ status: 'exhausted', attemptCount: 4, attemptsAllowed: 4, nextAttemptAt: null });
      expect(delivery.attempts.map((attempt) => attempt.statusCode)).toEqual([301, 301, 301, 301]);
      expect(delivery.attempts[0].error).toContain('not followed');
      expect(delivery.attempts.at(-1)!.nextAttemptAt).toBeNull();
      expect(receiver.received('/new-home')).toHaveLength(0);
      const status = (
        await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}` })
      ).json<RequestStatusDto>();
      expect(status.webhook).toMatchObject({ state: 'exhausted', attempts: 4 });
    },
    SLOW,
  );

  it(
    'honours Retry-After when it asks for longer than the schedule, but only up to its longest step',
    async () => {
      receiver.respond('/busy', (hit) => {
        if (hit === 1) return { status: 503 };
        if (hit === 2) return { status: 429, headers: { 'retry-after': '3600' } };
        return { status: 200 };
      });
      const requestId = await completedRequestWithWebhook('/busy');
      const delivery = await finishedDelivery(harness.app, requestId);

      expect(delivery.attempts.map((attempt) => attempt.statusCode)).toEqual([503, 429, 200]);
      // The schedule says 200 ms after the second attempt; the receiver asked for an
      // hour and got the schedule's longest step, 1 s.
      const [, throttled, last] = delivery.attempts;
      const waited = Date.parse(last.startedAt) - Date.parse(throttled.finishedAt!);
      expect(waited).toBeGreaterThanOrEqual(950);
      expect(waited).toBeLessThan(2500);
    },
    SLOW,
  );

  it(
    'sends only the subscribed events',
    async () => {
      const requestId = await completedRequestWithWebhook('/failures-only', { webhookEvents: 'request.failed' });
      // The event would have been written with the terminal status, and only a written one is ever sent.
      expect(await listDeliveries(harness.app, requestId)).toEqual([]);
      expect(receiver.received('/failures-only')).toHaveLength(0);
      const status = (
        await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}` })
      ).json<RequestStatusDto>();
      expect(status.webhook).toMatchObject({ events: ['request.failed'], state: 'not_subscribed', attempts: 0 });

      images.route('/slow-missing.jpg', { status: 404, delayMs: 1000 });
      const failing = productCsv([{ serial: 1, name: 'Missing', urls: [images.url('/slow-missing.jpg')] }]);
      const response = await upload(harness.app, failing, {
        webhookUrl: receiver.url('/failures-only'),
        webhookEvents: 'request.failed',
      });
      const failedId = response.json<CreatedRequestDto>().requestId;
      const early = (
        await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${failedId}` })
      ).json<RequestStatusDto>();
      expect(early.webhook).toMatchObject({ state: 'awaiting_completion', attempts: 0 });
      const [received] = await receiver.waitFor('/failures-only', 1);
      expect(verify(received)).toMatchObject({
        type: 'request.failed',
        data: { requestId: failedId, status: 'failed' },
      });
    },
    SLOW,
  );

  it(
    'leaves an attempt in flight alone until its lease runs out, then takes it over and logs it as lost',
    async () => {
      // What a worker killed mid-attempt leaves behind: the delivery taken ("sending",
      // attempt 1 open) under a lease.
      const em = harness.app.get(MikroORM).em.fork();
      const { requestId } = await seedRequest(em, [1]);
      const deliveryId = randomUUID();
      await em.execute(
        `INSERT INTO webhook_delivery
         (id, request_id, event_id, event_type, url, payload, status, attempt_count, attempts_allowed, locked_until, created_at)
       VALUES (?, ?, ?, 'request.completed', ?, '{"type":"request.completed"}', 'sending', 1, 4,
               now() + interval '1 hour', now())`,
        [deliveryId, requestId, `msg_${randomUUID()}`, receiver.url('/taken-over')],
      );
      await em.execute(`INSERT INTO webhook_attempt (id, delivery_id, number, started_at) VALUES (?, ?, 1, now())`, [
        randomUUID(),
        deliveryId,
      ]);

      // While the lease holds the attempt might still be under way: the sweep leaves it alone.
      await expect(harness.app.get(WebhookSweeper).sweep()).resolves.toBe(0);
      expect(receiver.received('/taken-over')).toHaveLength(0);

      // The lease runs out.
      await em.execute(`UPDATE webhook_delivery SET locked_until = now() WHERE id = ?`, [deliveryId]);

      const delivery = await finishedDelivery(harness.app, requestId);
      expect(receiver.received('/taken-over')).toHaveLength(1);
      expect(delivery).toMatchObject({ status: 'delivered', attemptCount: 2 });
      expect(delivery.attempts).toEqual([
        expect.objectContaining({
          number: 1,
          statusCode: null,
          errorCode: 'LEASE_EXPIRED',
          finishedAt: expect.any(String),
        }),
        expect.objectContaining({ number: 2, statusCode: 200 }),
      ]);
    },
    SLOW,
  );

  it.each([
    ['credentials in the URL', { webhookUrl: 'https://user:secret@hooks.example.com/x' }, 'WEBHOOK_URL_INVALID'],
    ['a scheme other than http(s)', { webhookUrl: 'ftp://hooks.example.com/x' }, 'WEBHOOK_URL_INVALID'],
    ['a relative URL', { webhookUrl: '/hooks' }, 'WEBHOOK_URL_INVALID'],
    [
      'a URL over 2048 characters',
      { webhookUrl: `https://hooks.example.com/${'a'.repeat(2048)}` },
      'WEBHOOK_URL_INVALID',
    ],
    [
      'an unknown event type',
      { webhookUrl: 'http://127.0.0.1:9/x', webhookEvents: 'request.deleted' },
      'WEBHOOK_EVENTS_INVALID',
    ],
    ['events without a URL', { webhookEvents: 'request.failed' }, 'WEBHOOK_EVENTS_INVALID'],
  ])('refuses %s at upload with 422 and stores nothing', async (_case, fields, code) => {
    const orm = harness.app.get(MikroORM);
    const count = async () =>
      (await orm.em.fork().execute<{ n: string }[]>('SELECT count(*) AS n FROM processing_request'))[0].n;
    const before = await count();
    const response = await upload(harness.app, photoCsv, fields);
    expect(response.statusCode).toBe(422);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.json()).toMatchObject({ status: 422, code });
    expect(await count()).toBe(before);
  });

  it('documents the event payload and the delivery routes in OpenAPI', async () => {
    const spec = (await harness.app.inject({ method: 'GET', url: '/docs-json' })).json<openapi.OpenAPIObject>();
    expect(openapi.operation(spec, 'get', '/api/v1/requests/{id}/webhook-deliveries').operationId).toBe(
      'listWebhookDeliveries',
    );
    expect(
      openapi.operation(spec, 'post', '/api/v1/requests/{id}/webhook-deliveries/{deliveryId}/redeliver').operationId,
    ).toBe('redeliverWebhook');
    expect(openapi.component(spec, 'WebhookEventDto').properties).toEqual(
      expect.objectContaining({ type: expect.any(Object), timestamp: expect.any(Object), data: expect.any(Object) }),
    );
  });
});

describe('the outbound guard on webhook targets', () => {
  let receiver: WebhookReceiver;
  let guarded: TestApp;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    guarded = await startTestApp({ ...WEBHOOK_ENV, ALLOW_PRIVATE_NETWORKS: 'false' });
  }, SLOW);

  afterAll(async () => {
    await guarded?.close();
    await receiver?.close();
  });

  it.each([
    ['loopback', 'http://127.0.0.1:8080/hook'],
    ['a name that resolves to loopback', 'http://localhost:8080/hook'],
    ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data'],
    ['a private network', 'http://[::ffff:10.0.0.1]/hook'],
  ])('refuses %s at registration', async (_case, webhookUrl) => {
    const csv = productCsv([{ serial: 1, name: 'X', urls: ['https://images.example.com/a.jpg'] }]);
    const response = await upload(guarded.app, csv, { webhookUrl });
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({ code: 'WEBHOOK_URL_BLOCKED' });
  });

  it(
    'checks the target again at each attempt: an address that became private is never contacted',
    async () => {
      // As if the URL passed registration and its DNS later moved to a private
      // address (rebinding): the row is written directly, bypassing registration.
      const em = guarded.app.get(MikroORM).em.fork();
      const { requestId } = await seedRequest(em, [1]);
      await em.execute(
        `INSERT INTO webhook_delivery (id, request_id, event_id, event_type, url, payload, attempts_allowed, next_attempt_at, created_at)
       VALUES (?, ?, ?, 'request.completed', ?, '{}', 4, now(), now())`,
        [randomUUID(), requestId, `msg_${randomUUID()}`, receiver.url('/rebound')],
      );
      const delivery = await finishedDelivery(guarded.app, requestId);
      expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
      expect(delivery.attempts).toEqual([
        expect.objectContaining({ statusCode: null, errorCode: 'BLOCKED_ADDRESS', nextAttemptAt: null }),
      ]);
      expect(receiver.received('/rebound')).toHaveLength(0);
    },
    SLOW,
  );
});

describe('without WEBHOOK_SIGNING_SECRET', () => {
  let unsigned: TestApp;

  beforeAll(async () => {
    unsigned = await startTestApp({ ...WEBHOOK_ENV, WEBHOOK_SIGNING_SECRET: '', APP_ROLE: 'api' });
  });

  afterAll(async () => {
    await unsigned?.close();
  });

  it('refuses to register a webhook rather than send unsigned events', async () => {
    const csv = productCsv([{ serial: 1, name: 'X', urls: ['https://images.example.com/a.jpg'] }]);
    const response = await upload(unsigned.app, csv, { webhookUrl: 'https://hooks.example.com/x' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ code: 'WEBHOOKS_NOT_CONFIGURED' });
  });
});

describe('webhooks across worker processes', () => {
  let images: ImageServer;
  let receiver: WebhookReceiver;
  let env: Record<string, string>;
  let api: TestApp;
  let webhookQueue: Queue;
  const workers: INestApplicationContext[] = [];

  const startWorker = async () => {
    const worker = await createWorkerContext(loadConfig({ ...env, APP_ROLE: 'worker' }));
    workers.push(worker);
    return worker;
  };

  beforeAll(async () => {
    images = await ImageServer.start();
    receiver = await WebhookReceiver.start();
    env = testEnv(WEBHOOK_ENV);
    api = await startTestApp({ ...env, APP_ROLE: 'api' });
    webhookQueue = api.app.get<Queue>(getQueueToken(QueueName.Webhooks));
  }, SLOW);

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.close()));
    await webhookQueue.resume();
  });

  afterAll(async () => {
    await api?.close();
    await receiver?.close();
    await images?.close();
  });

  async function submit(path: string): Promise<string> {
    const csv = productCsv([{ serial: 1, name: 'Photo', urls: [images.url('/photo.jpg')] }]);
    const response = await upload(api.app, csv, { webhookUrl: receiver.url(path) });
    expect(response.statusCode).toBe(202);
    return response.json<CreatedRequestDto>().requestId;
  }

  it(
    'an event committed but never queued (the process died in between) is delivered after a restart, once',
    async () => {
      // The queue is paused so that the job the finalizer adds after its commit is
      // never taken; then that worker stops and the job is destroyed. What is left
      // is exactly what a crash between the commit and the enqueue leaves: the
      // terminal status and the outbox row in PostgreSQL, nothing in Redis.
      await webhookQueue.pause();
      await startWorker();
      const requestId = await submit('/after-crash');
      await waitForTerminal(api.app, requestId);
      await Promise.all(workers.splice(0).map((worker) => worker.close()));
      await webhookQueue.obliterate({ force: true });
      await webhookQueue.resume();
      expect(await webhookQueue.getJobCounts('waiting', 'delayed', 'active')).toEqual({
        waiting: 0,
        delayed: 0,
        active: 0,
      });
      expect(await listDeliveries(api.app, requestId)).toEqual([
        expect.objectContaining({ status: 'pending', attemptCount: 0 }),
      ]);
      expect(receiver.received('/after-crash')).toHaveLength(0);

      // The restarted worker's sweep finds the due event and sends it.
      await startWorker();
      const delivery = await finishedDelivery(api.app, requestId);
      await expectNothingLeftToSend(api.app, delivery.id);
      const received = receiver.received('/after-crash');
      expect(received).toHaveLength(1);
      expect(received[0].headers['webhook-id']).toBe(delivery.eventId);
      expect(delivery).toMatchObject({ status: 'delivered', attemptCount: 1 });
      expect(verify(received[0])).toMatchObject({ type: 'request.completed', data: { requestId } });
    },
    SLOW,
  );

  it(
    'two workers flooded with jobs for one event never send it twice at once',
    async () => {
      receiver.respond('/contended', (hit) =>
        hit <= 2 ? { status: 503, delayMs: 300 } : { status: 200, delayMs: 300 },
      );
      await webhookQueue.pause();
      const [first, second] = [await startWorker(), await startWorker()];
      const requestId = await submit('/contended');
      await waitForTerminal(api.app, requestId);
      const [{ id: deliveryId }] = (await listDeliveries(api.app, requestId)) as [WebhookDeliveryDto];

      // Far more jobs than the per-attempt job id would ever let through, so that
      // only the delivery row's lock stands between them and the receiver.
      await webhookQueue.addBulk(
        Array.from({ length: 30 }, (_, index) => ({
          name: JobName.DeliverWebhook,
          data: { deliveryId },
          opts: { jobId: `${deliveryId}.flood-${index}`, removeOnComplete: true, removeOnFail: true },
        })),
      );
      await webhookQueue.resume();
      await Promise.all([first.get(WebhookSweeper).sweep(), second.get(WebhookSweeper).sweep()]);

      const delivery = await finishedDelivery(api.app, requestId, 20_000);
      // Every flood job has run by then, so the receiver's count is final.
      await expectNothingLeftToSend(api.app, delivery.id);
      expect(receiver.maxConcurrentPerEvent).toBe(1);
      expect(receiver.received('/contended')).toHaveLength(3);
      expect(delivery).toMatchObject({ status: 'delivered', attemptCount: 3 });
      expect(delivery.attempts.map((attempt) => [attempt.number, attempt.statusCode])).toEqual([
        [1, 503],
        [2, 503],
        [3, 200],
      ]);
    },
    SLOW,
  );
});
