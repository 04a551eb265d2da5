import { AppConfig } from '../config/app-config.js';
import { ImageStatus } from '../products/image-status.js';
import type { ImageOutcome } from '../products/image-work.repository.js';
import { OUTAGE_LIMIT_MS } from '../storage/storage-outage.js';
import { ImageErrorCode, ImageJobError } from './image-error.js';

/**
 * How one image's failures are retried, in one place (as RetrySchedule is for
 * webhooks):
 * - transient faults (timeouts, connection resets, 5xx, 429, a temporary DNS
 *   failure, an unexplained processing error) are retried; permanent ones
 *   (404, not an image, too large, a blocked address) fail the image at once.
 *   Where the fault happens decides which it is: the fetcher and the
 *   transformer mark each ImageJobError `retryable`; anything else that
 *   escapes a job (storage, a library bug) counts as transient.
 * - an image gets `attempts` tries in all, counted as each one starts,
 *   waiting `backoffMs`, then twice as long each time, between them; the
 *   wait is kept in PostgreSQL (the image's not_before), so it survives Redis;
 * - a host that answers 429 or 503 with Retry-After is paused for that long
 *   (capped), and its images wait without using attempts (`hostPauseMs`);
 * - an image whose worker died while on it has used that attempt: it is
 *   tried again alone, or fails once none is left.
 */
export class ImageRetryPolicy {
  readonly attempts: number;
  readonly backoffMs: number;

  readonly maxHostPauseMs: number;

  constructor(config: Pick<AppConfig, 'jobAttempts' | 'jobBackoffMs' | 'sourceHostMaxPauseMs'>) {
    this.attempts = config.jobAttempts;
    this.backoffMs = config.jobBackoffMs;
    this.maxHostPauseMs = config.sourceHostMaxPauseMs;
  }

  /**
   * How long to leave a host alone that answered 429 or 503 with Retry-After,
   * without using the image's attempt: what it asked, at most
   * SOURCE_HOST_MAX_PAUSE_MS. Null once the image has been kept waiting for
   * OUTAGE_LIMIT_MS in all (since `waitingSince`): a host that never lets us
   * in then fails it like any other transient fault, attempts and all.
   */
  hostPauseMs(failure: ImageJobError, waitingSince: Date | null, now = Date.now()): number | null {
    if (!failure.pause) return null;
    if (waitingSince && now - waitingSince.getTime() >= OUTAGE_LIMIT_MS) return null;
    return Math.min(failure.pause.ms, this.maxHostPauseMs);
  }

  /** Any failure as an ImageJobError with a stable code. */
  classify(error: unknown): ImageJobError {
    if (error instanceof ImageJobError) return error;
    // The message can name server paths (storage): it goes to the logs through `cause` only.
    return new ImageJobError(
      ImageErrorCode.ProcessingError,
      'Processing failed because of a problem on our side.',
      true,
      {
        cause: error,
      },
    );
  }

  /** Whether the attempt that just failed (1-based) is followed by another. */
  shouldRetry(failure: ImageJobError, attempt: number): boolean {
    return failure.retryable && attempt < this.attempts;
  }

  /** Whether an image whose worker died during its `attempts`-th attempt gets another. */
  retriesAfterLostWorker(attempts: number): boolean {
    return attempts < this.attempts;
  }

  /** What an image whose workers kept dying on it, with no attempt left, is recorded as. */
  lostWorkerFailure(): ImageJobError {
    return new ImageJobError(
      ImageErrorCode.ProcessingError,
      'Processing stopped every time this image was tried (the worker was lost).',
      true,
    );
  }

  /** The outcome recorded for an image that failed for good: its code and message, and whether the fault was transient. */
  failedOutcome(failure: ImageJobError): ImageOutcome {
    return {
      status: ImageStatus.Failed,
      errorCode: failure.code,
      errorMessage: failure.message,
      transient: failure.retryable,
    };
  }

  /** The wait before the given retry (1 = the first retry). */
  delayBeforeRetry(retry: number): number {
    return Math.round(2 ** (retry - 1) * this.backoffMs);
  }
}
