import { httpErrorCode } from '../common/outbound/outbound-error.js';
import { ImageErrorCode, ImageJobError } from './image-error.js';
import { ImageRetryPolicy } from './image-retry-policy.js';

const policy = new ImageRetryPolicy({ jobAttempts: 5, jobBackoffMs: 2000, sourceHostMaxPauseMs: 300_000 });
const transient = new ImageJobError(httpErrorCode(503), 'Server answered HTTP 503', true);
const permanent = new ImageJobError(httpErrorCode(404), 'Server answered HTTP 404', false);

describe('ImageRetryPolicy', () => {
  it('retries a transient failure until the last of its attempts', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => policy.shouldRetry(transient, attempt))).toEqual([
      true,
      true,
      true,
      true,
      false,
    ]);
  });

  it('never retries a permanent failure', () => {
    expect(policy.shouldRetry(permanent, 1)).toBe(false);
  });

  it('doubles the wait before each retry', () => {
    expect([1, 2, 3, 4].map((retry) => policy.delayBeforeRetry(retry))).toEqual([2000, 4000, 8000, 16000]);
  });

  it('treats an unexpected error as a transient processing failure, keeping its cause', () => {
    const cause = new Error('EIO: disk gone');
    const failure = policy.classify(cause);
    expect(failure).toMatchObject({
      code: ImageErrorCode.ProcessingError,
      retryable: true,
      message: 'Processing failed because of a problem on our side.',
    });
    expect(failure.message).not.toContain('EIO');
    expect(failure.cause).toBe(cause);
    expect(policy.classify(permanent)).toBe(permanent);
  });

  it('tries an image whose worker was lost again while it has attempts left, then fails it as transient', () => {
    expect([1, 4, 5, 6].map((attempts) => policy.retriesAfterLostWorker(attempts))).toEqual([true, true, false, false]);
    expect(policy.lostWorkerFailure()).toMatchObject({ code: ImageErrorCode.ProcessingError, retryable: true });
  });

  it('pauses for what a host asked, capped, without an attempt, until the image has waited 15 minutes in all', () => {
    const now = Date.parse('2026-12-06T12:00:00Z');
    const asked = (ms: number) =>
      new ImageJobError(httpErrorCode(429), 'Server answered HTTP 429', true, undefined, { host: 'a.test:443', ms });
    expect(policy.hostPauseMs(asked(8000), null, now)).toBe(8000);
    expect(policy.hostPauseMs(asked(3_600_000), null, now)).toBe(300_000);
    expect(policy.hostPauseMs(asked(8000), new Date(now - 14 * 60_000), now)).toBe(8000);
    expect(policy.hostPauseMs(asked(8000), new Date(now - 15 * 60_000), now)).toBeNull();
    expect(policy.hostPauseMs(transient, null, now)).toBeNull();
  });
});
