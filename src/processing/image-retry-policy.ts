import { AppConfig } from '../config/app-config.js';
import { ImageErrorCode, ImageJobError } from './image-error.js';

/** What the stuck-work sweep finds in Redis for an open image's job. */
export type ImageJobState = 'missing' | 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'unknown';

/** What the sweep does about it. */
export type SweepAction = 'leave' | 'enqueue' | 'retry';

/**
 * How one image's failures are retried, in one place (as RetrySchedule is for
 * webhooks):
 * - transient faults (timeouts, connection resets, 5xx, 429, a temporary DNS
 *   failure, an unexplained processing error) are retried; permanent ones
 *   (404, not an image, too large, a blocked address) fail the image at once.
 *   Where the fault happens decides which it is: the fetcher and the
 *   transformer mark each ImageJobError `retryable`; anything else that
 *   escapes a job (storage, a library bug) counts as transient.
 * - an image gets `attempts` tries in all, BullMQ waiting `backoffMs`,
 *   then twice as long each time, between them (its exponential backoff);
 * - the sweep leaves a live job alone, adds a job that Redis lost, and gives
 *   a job that finished without recording an outcome a fresh set of attempts.
 */
export class ImageRetryPolicy {
  readonly attempts: number;
  readonly backoffMs: number;

  constructor(config: Pick<AppConfig, 'jobAttempts' | 'jobBackoffMs'>) {
    this.attempts = config.jobAttempts;
    this.backoffMs = config.jobBackoffMs;
  }

  /** The job options BullMQ needs to apply this policy. */
  get jobOptions(): { attempts: number; backoff: { type: 'exponential'; delay: number } } {
    return { attempts: this.attempts, backoff: { type: 'exponential', delay: this.backoffMs } };
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

  /**
   * Whether the attempt that just failed (1-based) is followed by another.
   * `allowed` is what the job itself was given, which may predate a change
   * of JOB_ATTEMPTS; the smaller budget wins.
   */
  shouldRetry(failure: ImageJobError, attempt: number, allowed = this.attempts): boolean {
    return failure.retryable && attempt < Math.min(allowed, this.attempts);
  }

  /** BullMQ's wait before the given retry (1 = the first retry). */
  delayBeforeRetry(retry: number): number {
    return Math.round(2 ** (retry - 1) * this.backoffMs);
  }

  /**
   * A waiting, delayed or active job is left alone (BullMQ's stalled-job
   * check hands a dead worker's job over). A finished job still holds its id,
   * so adding it again would be ignored: it is retried with a fresh attempt
   * budget. A missing one is added again.
   */
  sweepAction(state: ImageJobState): SweepAction {
    if (state === 'missing') return 'enqueue';
    return state === 'completed' || state === 'failed' ? 'retry' : 'leave';
  }
}
