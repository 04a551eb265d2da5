import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { WebhookEventType } from '../request-events.js';
import { OUTPUT_FORMATS, type OutputFormat } from '../processing-options.js';
import type { RequestCounts } from '../request-counts.js';
import { RequestStatus } from '../request-status.js';

export class ImageCountsDto {
  @ApiProperty({ type: 'integer', example: 300 }) total: number;
  @ApiProperty({ type: 'integer', example: 240 }) succeeded: number;
  @ApiProperty({ type: 'integer', example: 3 }) failed: number;
  @ApiProperty({ type: 'integer', example: 0, description: 'Stopped by a cancel before they had an outcome' })
  cancelled: number;
  @ApiProperty({ type: 'integer', example: 57, description: 'Not yet in a terminal state' }) pending: number;
  @ApiProperty({
    type: 'integer',
    example: 12,
    description: 'Of the succeeded: downloaded in full and encoded',
  })
  fetched: number;
  @ApiProperty({
    type: 'integer',
    example: 220,
    description:
      'Of the succeeded: the source answered a conditional request with 304 Not Modified, and the output made ' +
      'from it by an earlier request with the same options was copied (see the upload field `reuse`)',
  })
  revalidated: number;
  @ApiProperty({
    type: 'integer',
    example: 8,
    description:
      'Of the succeeded: downloaded, but the bytes were those an earlier request encoded with the same options ' +
      '(same XXH3-128 digest), so its output was copied instead of encoding again',
  })
  reused: number;
}

export class ProductCountsDto {
  @ApiProperty({ type: 'integer', example: 100 }) total: number;
  @ApiProperty({ type: 'integer', example: 80, description: 'Products whose every image is terminal' })
  processed: number;
}

export class RequestCountsDto implements RequestCounts {
  @ApiProperty({ type: ProductCountsDto }) products: ProductCountsDto;
  @ApiProperty({ type: ImageCountsDto }) images: ImageCountsDto;
}

export class ImageErrorSummaryDto {
  @ApiProperty({ example: '17' }) serialNumber: string;
  @ApiProperty({ example: 'SKU17' }) productName: string;
  @ApiProperty({ type: 'integer', example: 3, description: 'CSV data row (1-based)' }) row: number;
  @ApiProperty({ example: 'https://example.com/missing.jpg' }) url: string;
  @ApiProperty({ example: 'HTTP_404' }) code: string;
  @ApiProperty({ example: 'The server answered 404 Not Found' }) message: string;
}

export class PausedHostDto {
  @ApiProperty({
    example: 'cdn.example.com:443',
    description: 'Host and port the image URLs name, the default port made explicit',
  })
  host: string;
  @ApiProperty({
    format: 'date-time',
    example: '2026-12-06T14:05:12.000Z',
    description: 'When the host may be asked again: its images wait until then',
  })
  until: string;
}

export class ProcessingOptionsDto {
  @ApiProperty({ nullable: true, type: Number, example: 0.5, description: 'Resize factor, null when the size is kept' })
  resize: number | null;
  @ApiProperty({
    nullable: true,
    type: 'integer',
    example: 1200,
    description: 'Width the output fits inside, null: no bound',
  })
  maxWidth: number | null;
  @ApiProperty({
    nullable: true,
    type: 'integer',
    example: null,
    description: 'Height the output fits inside, null: no bound',
  })
  maxHeight: number | null;
  @ApiProperty({ type: 'integer', example: 50, description: 'Encoder quality, 1-100' })
  quality: number;
  @ApiProperty({
    enum: OUTPUT_FORMATS,
    enumName: 'OutputFormat',
    example: 'keep',
    description: '`keep`: each image in its own format',
  })
  format: OutputFormat;
  @ApiProperty({
    type: Boolean,
    example: true,
    description: 'Whether outputs of earlier requests of the same tenant, URL and options may be copied',
  })
  reuse: boolean;
}

export class RequestLinksDto {
  @ApiProperty({ example: '/api/v1/requests/0b9f…' }) self: string;
  @ApiProperty({ example: '/api/v1/requests/0b9f…/products' }) products: string;
  @ApiProperty({ example: '/api/v1/requests/0b9f…/export' }) export: string;
}

/**
 * Before the request is terminal there is nothing to deliver yet; afterwards,
 * the delivery's own status (webhooks/request-webhook-state.ts fails to
 * compile if a delivery status is missing here).
 */
export const WEBHOOK_STATES = [
  'awaiting_completion',
  'not_subscribed',
  'pending',
  'sending',
  'delivered',
  'failed',
  'exhausted',
] as const;
export type WebhookState = (typeof WEBHOOK_STATES)[number];

export class RequestWebhookDto {
  @ApiProperty({ example: 'https://example.com/hooks/pixbatch' }) url: string;
  @ApiProperty({ enum: WebhookEventType, enumName: 'WebhookEventType', isArray: true }) events: WebhookEventType[];
  @ApiProperty({
    enum: WEBHOOK_STATES,
    enumName: 'WebhookState',
    description:
      '`awaiting_completion` until the request is terminal; `not_subscribed` when its event is not in `events`; ' +
      'then the delivery status: pending, sending, delivered, failed (410 Gone or a refused target) or exhausted',
  })
  state: WebhookState;
  @ApiProperty({ type: 'integer', example: 1, description: 'Attempts made so far' }) attempts: number;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) nextAttemptAt: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) deliveredAt: string | null;
  @ApiProperty({ example: '/api/v1/requests/0b9f…/webhook-deliveries', description: 'Every attempt, in detail' })
  deliveries: string;
}

export class RequestStatusDto {
  @ApiProperty({ format: 'uuid' }) requestId: string;
  @ApiProperty({ enum: RequestStatus, enumName: 'RequestStatus' }) status: RequestStatus;
  @ApiProperty({ description: 'True once the status is terminal and the export is available' }) completed: boolean;
  @ApiProperty({ example: 'products.csv' }) originalFilename: string;
  @ApiProperty({ type: ProcessingOptionsDto }) options: ProcessingOptionsDto;
  @ApiProperty({ type: RequestCountsDto }) counts: RequestCountsDto;
  @ApiProperty({ example: 81.0, description: 'Share of images in a terminal state, 0-100' }) percent: number;
  @ApiProperty({
    type: 'integer',
    example: 0,
    description: 'The run the counts describe: 0 for the first, one more per retry',
  })
  round: number;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiPropertyOptional({ format: 'date-time', nullable: true, type: String }) startedAt: string | null;
  @ApiPropertyOptional({ format: 'date-time', nullable: true, type: String }) completedAt: string | null;
  @ApiProperty({ type: [ImageErrorSummaryDto], description: 'The first failed images, in CSV order' })
  errors: ImageErrorSummaryDto[];
  @ApiProperty({
    type: [PausedHostDto],
    description:
      'Source hosts (host:port) that asked the service to wait (HTTP 429 or 503 with Retry-After) and that this ' +
      'request still has images waiting on; empty when none',
  })
  pausedHosts: PausedHostDto[];
  @ApiProperty({ type: RequestLinksDto }) links: RequestLinksDto;
  @ApiProperty({
    type: RequestWebhookDto,
    nullable: true,
    description: 'Null when the upload registered no webhookUrl',
  })
  webhook: RequestWebhookDto | null;
}

export class CreatedRequestDto {
  @ApiProperty({ format: 'uuid' }) requestId: string;
  @ApiProperty({ enum: RequestStatus, enumName: 'RequestStatus', example: RequestStatus.Pending })
  status: RequestStatus;
  @ApiProperty({ type: 'integer', example: 100 }) productCount: number;
  @ApiProperty({ type: 'integer', example: 300 }) imageCount: number;
  @ApiProperty({ type: RequestLinksDto }) links: RequestLinksDto;
}

/** Shape of the original design's `GET /api/status/?request_id=` answer, plus the v1 fields. */
export class LegacyStatusDto extends RequestStatusDto {
  @ApiProperty({ format: 'uuid' }) request_id: string;
  @ApiProperty({ format: 'date-time' }) Created_at: string;
  @ApiProperty() Completed: boolean;
}
