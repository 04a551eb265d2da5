export enum ImageStatus {
  Pending = 'pending',
  Processing = 'processing',
  Succeeded = 'succeeded',
  Failed = 'failed',
  /** Stopped by a cancel of its request before it had an outcome. */
  Cancelled = 'cancelled',
}

/** An image still waiting for, or getting, its outcome. */
export const OPEN_IMAGE_STATUSES: readonly ImageStatus[] = [ImageStatus.Pending, ImageStatus.Processing];
