import { WebhookDeliveryStatus } from './webhook-delivery-status.js';

/** What one attempt came to, as far as the retry decision is concerned. */
export interface AttemptOutcome {
  /** The receiver's HTTP status, or null when no response arrived. */
  statusCode: number | null;
  /** Why no usable response arrived (TIMEOUT, CONNECTION_ERROR, BLOCKED_ADDRESS, ...), or null. */
  errorCode: string | null;
  /** The raw Retry-After header of the response, if any. */
  retryAfter: string | null;
}

export type DeliveryDecision =
  | { status: WebhookDeliveryStatus.Delivered }
  | { status: WebhookDeliveryStatus.Failed }
  | { status: WebhookDeliveryStatus.Exhausted }
  | { status: WebhookDeliveryStatus.Pending; delayMs: number };

/** Failures no later attempt can cure: the receiver said the endpoint is gone, or we refuse the target. */
const STOPPING_ERRORS = new Set(['BLOCKED_ADDRESS', 'INVALID_URL']);
const GONE = 410;
// Spreads the retries of many deliveries that failed together (a receiver
// outage) so they do not all come back in the same second.
const JITTER = 0.2;

/**
 * The retry schedule: after failed attempt n the next one waits delays[n-1],
 * stretched by up to 20 % at random. A Retry-After that asks for longer is
 * honoured, but never beyond the schedule's longest step, so a receiver cannot
 * park a delivery indefinitely.
 */
export class RetrySchedule {
  private readonly maxDelayMs: number;

  constructor(
    private readonly delaysMs: readonly number[],
    private readonly random: () => number = Math.random,
  ) {
    this.maxDelayMs = Math.max(0, ...delaysMs);
  }

  /** The first attempt plus one per delay. */
  get attemptsAllowed(): number {
    return this.delaysMs.length + 1;
  }

  decide(outcome: AttemptOutcome, attemptNumber: number, attemptsAllowed: number, now = Date.now()): DeliveryDecision {
    const { statusCode } = outcome;
    if (statusCode !== null && statusCode >= 200 && statusCode <= 299) {
      return { status: WebhookDeliveryStatus.Delivered };
    }
    if (statusCode === GONE || (outcome.errorCode !== null && STOPPING_ERRORS.has(outcome.errorCode))) {
      return { status: WebhookDeliveryStatus.Failed };
    }
    if (attemptNumber >= attemptsAllowed || this.delaysMs.length === 0) {
      return { status: WebhookDeliveryStatus.Exhausted };
    }
    // A schedule shortened since the delivery was created still has a last step to fall back on.
    const step = this.delaysMs[Math.min(attemptNumber, this.delaysMs.length) - 1];
    const scheduled = Math.round(step * (1 + JITTER * this.random()));
    const requested = parseRetryAfter(outcome.retryAfter, now);
    const delayMs = requested === null ? scheduled : Math.max(scheduled, Math.min(requested, this.maxDelayMs));
    return { status: WebhookDeliveryStatus.Pending, delayMs };
  }
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), in ms from now; null when absent or malformed. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | null {
  if (header === null) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Date.parse reads bare numbers such as "-5" as years; an HTTP-date always names its day and month.
  if (!/[a-z]/i.test(text)) return null;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}
