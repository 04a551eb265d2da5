import { OutboundErrorCode } from '../common/outbound/outbound-error.js';

/**
 * Stable codes recorded on a failed image and shown in status and export. The
 * download's codes are the outbound client's, which ImageFetcher carries over.
 */
export enum ImageErrorCode {
  InvalidUrl = OutboundErrorCode.InvalidUrl,
  BlockedAddress = OutboundErrorCode.BlockedAddress,
  DnsError = OutboundErrorCode.DnsError,
  ConnectionError = OutboundErrorCode.ConnectionError,
  FetchTimeout = OutboundErrorCode.Timeout,
  TooManyRedirects = OutboundErrorCode.TooManyRedirects,
  /** Used as `HTTP_<status>`, e.g. HTTP_404, HTTP_503; see httpErrorCode() in common/outbound. */
  HttpError = OutboundErrorCode.HttpError,
  TooLarge = OutboundErrorCode.TooLarge,
  EmptyBody = 'EMPTY_BODY',
  NotAnImage = 'NOT_AN_IMAGE',
  UnsupportedFormat = 'UNSUPPORTED_FORMAT',
  TooManyPixels = 'TOO_MANY_PIXELS',
  /** An animation with more frames than the transformer accepts. */
  TooManyFrames = 'TOO_MANY_FRAMES',
  DecodeError = 'DECODE_ERROR',
  ProcessingError = 'PROCESSING_ERROR',
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
    /** The image's host asked us to wait (Retry-After): not the image's fault. */
    readonly pause?: { host: string; ms: number },
  ) {
    super(message, options);
    this.name = 'ImageJobError';
  }
}
