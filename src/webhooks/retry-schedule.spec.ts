import { RetrySchedule, parseRetryAfter } from './retry-schedule.js';
import { WebhookDeliveryStatus } from './webhook-delivery-status.js';

const response = (statusCode: number, retryAfter: string | null = null) => ({
  statusCode,
  errorCode: null,
  retryAfter,
});
const failure = (errorCode: string) => ({ statusCode: null, errorCode, retryAfter: null });

describe('RetrySchedule', () => {
  const noJitter = new RetrySchedule([5_000, 300_000, 1_800_000], () => 0);

  it('allows one attempt more than there are delays', () => {
    expect(noJitter.attemptsAllowed).toBe(4);
    expect(new RetrySchedule([]).attemptsAllowed).toBe(1);
  });

  it.each([200, 201, 204, 299])('counts %i as delivered', (status) => {
    expect(noJitter.decide(response(status), 1, 4)).toEqual({ status: WebhookDeliveryStatus.Delivered });
  });

  it('stops at once on 410 Gone and on a target the guard refuses', () => {
    expect(noJitter.decide(response(410), 1, 4)).toEqual({ status: WebhookDeliveryStatus.Failed });
    expect(noJitter.decide(failure('BLOCKED_ADDRESS'), 1, 4)).toEqual({ status: WebhookDeliveryStatus.Failed });
    expect(noJitter.decide(failure('INVALID_URL'), 1, 4)).toEqual({ status: WebhookDeliveryStatus.Failed });
  });

  it.each([
    ['a redirect', response(301)],
    ['a client error', response(400)],
    ['429', response(429)],
    ['a server error', response(503)],
    ['a timeout', failure('TIMEOUT')],
    ['a refused connection', failure('CONNECTION_ERROR')],
  ])('retries after %s, following the schedule', (_case, outcome) => {
    expect(noJitter.decide(outcome, 1, 4)).toEqual({ status: WebhookDeliveryStatus.Pending, delayMs: 5_000 });
    expect(noJitter.decide(outcome, 3, 4)).toEqual({ status: WebhookDeliveryStatus.Pending, delayMs: 1_800_000 });
  });

  it('is exhausted after the last allowed attempt', () => {
    expect(noJitter.decide(response(500), 4, 4)).toEqual({ status: WebhookDeliveryStatus.Exhausted });
    // A redelivery allows exactly one more attempt.
    expect(noJitter.decide(response(500), 6, 6)).toEqual({ status: WebhookDeliveryStatus.Exhausted });
  });

  it('stretches each delay by at most 20 % of jitter', () => {
    expect(new RetrySchedule([10_000], () => 0.999999).decide(response(500), 1, 2)).toEqual({
      status: WebhookDeliveryStatus.Pending,
      delayMs: 12_000,
    });
  });

  it('honours a longer Retry-After, capped at the longest step of the schedule', () => {
    expect(noJitter.decide(response(429, '60'), 1, 4)).toMatchObject({ delayMs: 60_000 });
    expect(noJitter.decide(response(503, '86400'), 1, 4)).toMatchObject({ delayMs: 1_800_000 });
    // A shorter one does not pull the retry forward.
    expect(noJitter.decide(response(429, '1'), 2, 4)).toMatchObject({ delayMs: 300_000 });
  });

  it('falls back on the last step when the schedule was shortened after the delivery started', () => {
    expect(noJitter.decide(response(500), 5, 8)).toMatchObject({ delayMs: 1_800_000 });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-21T10:00:00Z');

  it('reads delay-seconds and HTTP-dates', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Sat, 21 Nov 2026 10:01:30 GMT', now)).toBe(90_000);
    expect(parseRetryAfter('Sat, 21 Nov 2026 09:00:00 GMT', now)).toBe(0);
  });

  it('ignores a missing or malformed header', () => {
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter('-5', now)).toBeNull();
  });
});
