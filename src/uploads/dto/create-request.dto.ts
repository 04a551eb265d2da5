import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsNumber, IsOptional, IsString, Max, Min } from 'class-validator';
import { WEBHOOK_EVENT_TYPES } from '../../requests/request-events.js';
import { WEBHOOK_URL_MAX_LENGTH } from '../../webhooks/webhook-registration.service.js';

const RESIZE_MESSAGE =
  'resize must be a plain number from 0.01 to 1, the factor for width and height: 0.5 halves them ("50%" is not accepted)';

/**
 * The multipart fields that accompany the CSV file. The webhook fields are
 * only checked for presence here: WebhookRegistrar vets them, with a 422 and
 * a specific code per problem.
 */
export class CreateRequestDto {
  @ApiPropertyOptional({
    description:
      'Called with a signed event when the request reaches a terminal status: http(s), no credentials, a public address',
    example: 'https://example.com/hooks/pixbatch',
    maxLength: WEBHOOK_URL_MAX_LENGTH,
  })
  @IsOptional()
  @IsString()
  webhookUrl?: string;

  @ApiPropertyOptional({
    description: `Comma-separated event types to send; default all of them: ${WEBHOOK_EVENT_TYPES.join(', ')}`,
    example: 'request.completed_with_errors,request.failed',
  })
  @IsOptional()
  @IsString()
  webhookEvents?: string;

  @ApiPropertyOptional({
    description: 'Scale factor for both sides, greater than 0 and at most 1 (0.5 halves width and height). Omit to keep the size.',
    example: 0.5,
    minimum: 0.01,
    maximum: 1,
  })
  @IsOptional()
  @Type(() => Number)
  // One message whichever check fails: "50%" is not a number, nor out of range.
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: RESIZE_MESSAGE })
  @Min(0.01, { message: RESIZE_MESSAGE })
  @Max(1, { message: RESIZE_MESSAGE })
  resize?: number;
}
