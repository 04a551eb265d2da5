import { ApiProperty } from '@nestjs/swagger';
import { RequestCountsDto } from '../../requests/dto/request-status.dto.js';
import { RequestStatus } from '../../requests/request-status.js';
import { WebhookEventType } from '../../requests/request-events.js';

export class WebhookEventLinksDto {
  @ApiProperty({ example: 'https://pixbatch.example.com/api/v1/requests/0b9f3c1e-…' }) status: string;
  @ApiProperty({ example: 'https://pixbatch.example.com/api/v1/requests/0b9f3c1e-…/export' }) export: string;
}

export class WebhookEventDataDto {
  @ApiProperty({ format: 'uuid' }) requestId: string;
  @ApiProperty({ enum: RequestStatus, enumName: 'RequestStatus', example: RequestStatus.CompletedWithErrors })
  status: RequestStatus;
  @ApiProperty({ type: RequestCountsDto }) counts: RequestCountsDto;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) completedAt: string;
  @ApiProperty({ type: WebhookEventLinksDto }) links: WebhookEventLinksDto;
}

/**
 * The body POSTed to a request's webhookUrl when the request reaches a
 * terminal status, signed per Standard Webhooks: headers `webhook-id` (the
 * event id, the same on every retry and redelivery), `webhook-timestamp`
 * (Unix seconds of this attempt) and `webhook-signature` (`v1,<base64>`;
 * two space-separated signatures while the signing key is rotated).
 */
export class WebhookEventDto {
  @ApiProperty({
    enum: WebhookEventType,
    enumName: 'WebhookEventType',
    example: WebhookEventType.RequestCompletedWithErrors,
  })
  type: WebhookEventType;
  @ApiProperty({ format: 'date-time', description: 'When the event happened (the request completed)' })
  timestamp: string;
  @ApiProperty({ type: WebhookEventDataDto }) data: WebhookEventDataDto;
}
