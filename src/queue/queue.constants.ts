/** Every queue, job name and payload in one place; call sites never spell them. */
export enum QueueName {
  Images = 'images',
  Requests = 'requests',
  Webhooks = 'webhooks',
}

export enum JobName {
  ProcessImage = 'process-image',
  FinalizeRequest = 'finalize-request',
  DeliverWebhook = 'deliver-webhook',
}

export interface ProcessImageJob {
  imageId: string;
  requestId: string;
}

export interface FinalizeRequestJob {
  requestId: string;
}

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
