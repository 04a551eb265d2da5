import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsNumber, IsOptional, IsString, Max, Min } from 'class-validator';
import {
  DEFAULT_QUALITY,
  MAX_DIMENSION,
  OUTPUT_FORMATS,
  type OutputFormat,
} from '../../requests/processing-options.js';
import { WEBHOOK_EVENT_TYPES } from '../../requests/request-events.js';
import { WEBHOOK_URL_MAX_LENGTH } from '../../webhooks/webhook-registration.service.js';

const RESIZE_MESSAGE =
  'resize must be a plain number from 0.01 to 1, the factor for width and height: 0.5 halves them ("50%" is not accepted)';

const dimensionMessage = (field: string) =>
  `${field} must be a whole number of pixels from 1 to ${MAX_DIMENSION}: the output fits inside it, never enlarged`;
const MAX_WIDTH_MESSAGE = dimensionMessage('maxWidth');
const MAX_HEIGHT_MESSAGE = dimensionMessage('maxHeight');
const QUALITY_MESSAGE = 'quality must be a whole number from 1 (smallest files) to 100 (best quality)';
const FORMAT_MESSAGE = `format must be one of ${OUTPUT_FORMATS.join(', ')}`;

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
    description:
      'Scale factor for both sides, greater than 0 and at most 1 (0.5 halves width and height). Omit to keep the size.',
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

  @ApiPropertyOptional({
    description: 'The output fits inside this width, aspect kept, never enlarged. Not with resize.',
    example: 1200,
    type: 'integer',
    minimum: 1,
    maximum: MAX_DIMENSION,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: MAX_WIDTH_MESSAGE })
  @Min(1, { message: MAX_WIDTH_MESSAGE })
  @Max(MAX_DIMENSION, { message: MAX_WIDTH_MESSAGE })
  maxWidth?: number;

  @ApiPropertyOptional({
    description: 'The output fits inside this height, aspect kept, never enlarged. Not with resize.',
    example: 1200,
    type: 'integer',
    minimum: 1,
    maximum: MAX_DIMENSION,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: MAX_HEIGHT_MESSAGE })
  @Min(1, { message: MAX_HEIGHT_MESSAGE })
  @Max(MAX_DIMENSION, { message: MAX_HEIGHT_MESSAGE })
  maxHeight?: number;

  @ApiPropertyOptional({
    description: `Encoder quality, 1-100 (default ${DEFAULT_QUALITY}); GIF output has none`,
    example: DEFAULT_QUALITY,
    default: DEFAULT_QUALITY,
    type: 'integer',
    minimum: 1,
    maximum: 100,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: QUALITY_MESSAGE })
  @Min(1, { message: QUALITY_MESSAGE })
  @Max(100, { message: QUALITY_MESSAGE })
  quality?: number;

  @ApiPropertyOptional({
    description:
      'Output format; `keep` (default) writes each image in its own format. JPEG from an image with transparency is ' +
      'flattened onto white; an animation written as JPEG, PNG or AVIF keeps its first frame',
    enum: OUTPUT_FORMATS,
    default: 'keep',
    example: 'keep',
  })
  @IsOptional()
  @IsIn(OUTPUT_FORMATS, { message: FORMAT_MESSAGE })
  format?: OutputFormat;
}
