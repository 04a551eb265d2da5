import { ApiProperty } from '@nestjs/swagger';
import { WebhookDeliveryStatus } from '../webhook-delivery-status.js';
import { WebhookEventType } from '../../requests/request-events.js';
import { WebhookEventDto } from './webhook-event.dto.js';

export class WebhookAttemptDto {
  @ApiProperty({ type: 'integer', example: 1, description: '1-based' }) number: number;
  @ApiProperty({ description: 'Asked for through the redeliver endpoint rather than scheduled' }) manual: boolean;
  @ApiProperty({ format: 'date-time' }) startedAt: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'Null while in flight' })
  finishedAt: string | null;
  @ApiProperty({ type: 'integer', nullable: true, example: 182 }) durationMs: number | null;
  @ApiProperty({ type: 'integer', nullable: true, example: 503, description: 'Null when no response arrived' })
  statusCode: number | null;
  @ApiProperty({
    nullable: true,
    type: String,
    example: 'HTTP_503',
    description: 'HTTP_<status>, TIMEOUT, CONNECTION_ERROR, DNS_ERROR, BLOCKED_ADDRESS, INVALID_URL or LEASE_EXPIRED',
  })
  errorCode: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'Receiver answered HTTP 503' }) error: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'The first 4 KiB of the response body' })
  responseBody: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'The retry this failure scheduled' })
  nextAttemptAt: string | null;
}

export class WebhookDeliveryDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'msg_2f1c0e9b6a3d4c5e8f7a6b5c4d3e2f1a', description: 'The webhook-id header' })
  eventId: string;
  @ApiProperty({ enum: WebhookEventType, enumName: 'WebhookEventType' }) eventType: WebhookEventType;
  @ApiProperty({ example: 'https://example.com/hooks/pixbatch' }) url: string;
  @ApiProperty({ enum: WebhookDeliveryStatus, enumName: 'WebhookDeliveryStatus' }) status: WebhookDeliveryStatus;
  @ApiProperty({ type: 'integer', example: 2 }) attemptCount: number;
  @ApiProperty({ type: 'integer', example: 8, description: 'Attempts made plus those still allowed' })
  attemptsAllowed: number;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) nextAttemptAt: string | null;
  @ApiProperty({ type: 'integer', nullable: true }) lastStatusCode: number | null;
  @ApiProperty({ nullable: true, type: String }) lastError: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) deliveredAt: string | null;
  @ApiProperty({ type: WebhookEventDto, description: 'The signed body, byte for byte the same on every attempt' })
  payload: WebhookEventDto;
  @ApiProperty({ type: [WebhookAttemptDto] }) attempts: WebhookAttemptDto[];
}

export class WebhookDeliveryListDto {
  @ApiProperty({ type: [WebhookDeliveryDto] }) items: WebhookDeliveryDto[];
}
