export enum WebhookDeliveryStatus {
  /** Waiting for its next attempt (`nextAttemptAt`). */
  Pending = 'pending',
  /** An attempt is in flight; the worker holds the row until `lockedUntil`. */
  Sending = 'sending',
  /** The receiver answered 2xx. */
  Delivered = 'delivered',
  /** Stopped without using up the attempts: 410 Gone, or a target the outbound guard refuses. */
  Failed = 'failed',
  /** Every allowed attempt failed. */
  Exhausted = 'exhausted',
}

export const OPEN_DELIVERY_STATUSES: readonly WebhookDeliveryStatus[] = [
  WebhookDeliveryStatus.Pending,
  WebhookDeliveryStatus.Sending,
];
