/** Every queue, job name and payload in one place; call sites never spell them. */
export enum QueueName {
  Images = 'images',
  Requests = 'requests',
  Webhooks = 'webhooks',
}

export enum JobName {
  /** A handful of one request's images, leased to the job by the dispatcher (its id is the chunk id). */
  ProcessChunk = 'process-chunk',
  FinalizeRequest = 'finalize-request',
  /** Asks a worker to run a dispatch pass now: new work was stored (an upload, a retry). */
  Dispatch = 'dispatch',
  DeliverWebhook = 'deliver-webhook',
}

/** The images themselves are found by the chunk id in PostgreSQL: the job stays a few bytes whatever its size. */
export interface ProcessChunkJob {
  chunkId: string;
  requestId: string;
}

export interface FinalizeRequestJob {
  requestId: string;
}

/**
 * A finalize job per round of a request: each retry round ends with a
 * finalize of its own, while a repeated enqueue within one round is a no-op.
 */
export function finalizeJobId(requestId: string, round: number): string {
  return `${requestId}.${round}`;
}

/** One dispatch nudge waits at a time; more while it waits would add nothing. */
export const DISPATCH_JOB_ID = 'dispatch';

/** One attempt of one webhook delivery; the attempt number is in the job id, not here. */
export interface DeliverWebhookJob {
  deliveryId: string;
}

/**
 * A job id per attempt: an attempt already queued is not queued twice (the
 * sweep may ask again), while the next attempt can be queued by the job that
 * is still running the previous one.
 */
export function webhookJobId(deliveryId: string, attempt: number): string {
  return `${deliveryId}.${attempt}`;
}
