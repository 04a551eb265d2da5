/**
 * Why an outbound HTTP exchange produced no usable response. The codes are the
 * ones images record (docs/api-guide.md, "Using the API"); each caller decides what it shows, but never
 * re-reads socket or DNS error codes itself.
 */
export enum OutboundErrorCode {
  InvalidUrl = 'INVALID_URL',
  BlockedAddress = 'BLOCKED_ADDRESS',
  DnsError = 'DNS_ERROR',
  ConnectionError = 'CONNECTION_ERROR',
  Timeout = 'FETCH_TIMEOUT',
  TooManyRedirects = 'TOO_MANY_REDIRECTS',
  /** Used as `HTTP_<status>`, e.g. HTTP_404, HTTP_503; see httpErrorCode(). */
  HttpError = 'HTTP_ERROR',
  TooLarge = 'TOO_LARGE',
}

/** What an OutboundError records: one of the codes above, or `HTTP_<status>` for an unsuccessful answer. */
export type OutboundFailureCode = OutboundErrorCode | `HTTP_${number}`;

export function httpErrorCode(status: number): `HTTP_${number}` {
  return `HTTP_${status}`;
}

/**
 * `transient` separates faults worth another attempt later (timeouts, resets,
 * 5xx, 408/425/429, a DNS server that did not answer) from permanent ones.
 */
export class OutboundError extends Error {
  constructor(
    readonly code: OutboundFailureCode,
    message: string,
    readonly transient: boolean,
    options?: { cause?: unknown },
    /** A 429 or 503 that said when to come back (Retry-After): which host (hostAndPort) and how long. */
    readonly pause?: { host: string; ms: number },
  ) {
    super(message, options);
    this.name = 'OutboundError';
  }
}
