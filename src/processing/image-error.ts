/** Stable codes recorded on a failed image and shown in status and export. */
export enum ImageErrorCode {
  InvalidUrl = 'INVALID_URL',
  BlockedAddress = 'BLOCKED_ADDRESS',
  DnsError = 'DNS_ERROR',
  ConnectionError = 'CONNECTION_ERROR',
  FetchTimeout = 'FETCH_TIMEOUT',
  TooManyRedirects = 'TOO_MANY_REDIRECTS',
  /** Used as `HTTP_<status>`, e.g. HTTP_404, HTTP_503; see httpErrorCode(). */
  HttpError = 'HTTP_ERROR',
  TooLarge = 'TOO_LARGE',
  EmptyBody = 'EMPTY_BODY',
  NotAnImage = 'NOT_AN_IMAGE',
  UnsupportedFormat = 'UNSUPPORTED_FORMAT',
  TooManyPixels = 'TOO_MANY_PIXELS',
  /** An animation with more frames than the transformer accepts. */
  TooManyFrames = 'TOO_MANY_FRAMES',
  DecodeError = 'DECODE_ERROR',
  ProcessingError = 'PROCESSING_ERROR',
}

export function httpErrorCode(status: number): string {
  return `HTTP_${status}`;
}

/**
 * Why one image could not be processed. `retryable` separates transient
 * faults (timeouts, resets, 5xx, 429) that BullMQ retries with backoff from
 * permanent ones that fail the image at once.
 */
export class ImageJobError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ImageJobError';
  }
}
