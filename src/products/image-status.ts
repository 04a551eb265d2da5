export enum ImageStatus {
  Pending = 'pending',
  Processing = 'processing',
  Succeeded = 'succeeded',
  Failed = 'failed',
  /** Stopped by a cancel of its request before it had an outcome. */
  Cancelled = 'cancelled',
}
