import { HttpStatus } from '@nestjs/common';

/**
 * Stable, documented codes for every problem the API answers with. Clients
 * switch on these, so a code is never renamed once released.
 */
export enum ErrorCode {
  BadRequest = 'BAD_REQUEST',
  ValidationFailed = 'VALIDATION_FAILED',
  OptionsConflict = 'OPTIONS_CONFLICT',
  NotMultipart = 'NOT_MULTIPART',
  MultipartInvalid = 'MULTIPART_INVALID',
  TooManyFiles = 'TOO_MANY_FILES',
  FileMissing = 'FILE_MISSING',
  FileEmpty = 'FILE_EMPTY',
  NotCsv = 'NOT_CSV',
  SpreadsheetNotCsv = 'SPREADSHEET_NOT_CSV',
  CsvTooLarge = 'CSV_TOO_LARGE',
  CsvInvalid = 'CSV_INVALID',
  UploadTimeout = 'UPLOAD_TIMEOUT',
  WebhookUrlInvalid = 'WEBHOOK_URL_INVALID',
  WebhookUrlBlocked = 'WEBHOOK_URL_BLOCKED',
  WebhookEventsInvalid = 'WEBHOOK_EVENTS_INVALID',
  WebhooksNotConfigured = 'WEBHOOKS_NOT_CONFIGURED',
  WebhookDeliveryNotFound = 'WEBHOOK_DELIVERY_NOT_FOUND',
  WebhookDeliveryInProgress = 'WEBHOOK_DELIVERY_IN_PROGRESS',
  InvalidId = 'INVALID_ID',
  NotFound = 'NOT_FOUND',
  RequestNotFound = 'REQUEST_NOT_FOUND',
  RequestNotFinished = 'REQUEST_NOT_FINISHED',
  RequestAlreadyFinished = 'REQUEST_ALREADY_FINISHED',
  NothingToRetry = 'NOTHING_TO_RETRY',
  FileNotFound = 'FILE_NOT_FOUND',
  RangeNotSatisfiable = 'RANGE_NOT_SATISFIABLE',
  MethodNotAllowed = 'METHOD_NOT_ALLOWED',
  UriTooLong = 'URI_TOO_LONG',
  HeadersTooLarge = 'HEADERS_TOO_LARGE',
  RequestTimeout = 'REQUEST_TIMEOUT',
  PayloadTooLarge = 'PAYLOAD_TOO_LARGE',
  UnsupportedMediaType = 'UNSUPPORTED_MEDIA_TYPE',
  ServiceUnavailable = 'SERVICE_UNAVAILABLE',
  ApiKeyMissing = 'API_KEY_MISSING',
  ApiKeyInvalid = 'API_KEY_INVALID',
  RateLimited = 'RATE_LIMITED',
  ProtectedMode = 'PROTECTED_MODE',
  InvalidIdempotencyKey = 'INVALID_IDEMPOTENCY_KEY',
  IdempotencyKeyReused = 'IDEMPOTENCY_KEY_REUSED',
  InvalidCursor = 'INVALID_CURSOR',
  Internal = 'INTERNAL_ERROR',
}

/** A failure the API reports as an RFC 9457 problem document. */
export class AppError extends Error {
  constructor(
    readonly status: HttpStatus,
    readonly code: ErrorCode,
    readonly title: string,
    readonly detail?: string,
    /** Extension members merged into the problem document. */
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(detail ?? title);
    this.name = 'AppError';
  }
}

/** What a missing request, and another tenant's, answers. */
export function requestNotFound(requestId: string): AppError {
  return new AppError(
    HttpStatus.NOT_FOUND,
    ErrorCode.RequestNotFound,
    'Request not found',
    `No processing request has the id ${requestId}.`,
  );
}
