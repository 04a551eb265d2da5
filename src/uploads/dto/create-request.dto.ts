import { applyDecorators } from '@nestjs/common';
import type { ApiBodyOptions, SchemaObject } from '@nestjs/swagger';
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

/** maxWidth and maxHeight: an optional whole number of pixels, one message whichever check fails. */
function PixelBound(field: 'maxWidth' | 'maxHeight'): PropertyDecorator {
  const message = `${field} must be a whole number of pixels from 1 to ${MAX_DIMENSION}: the output fits inside it, never enlarged`;
  return applyDecorators(
    IsOptional(),
    Type(() => Number),
    IsInt({ message }),
    Min(1, { message }),
    Max(MAX_DIMENSION, { message }),
  );
}
const QUALITY_MESSAGE = 'quality must be a whole number from 1 (smallest files) to 100 (best quality)';
const FORMAT_MESSAGE = `format must be one of ${OUTPUT_FORMATS.join(', ')}`;
const REUSE_MESSAGE =
  'reuse must be true (copy what an earlier request made of an unchanged image) or false (fetch and encode every image)';

/**
 * The multipart fields that accompany the CSV file, as the server reads them
 * (a field sent empty has been dropped before). The webhook fields are only
 * checked for presence here: WebhookRegistrar vets them, with a 422 and a
 * specific code per problem. UPLOAD_BODY below describes the same fields to
 * OpenAPI.
 */
export class CreateRequestDto {
  @IsOptional()
  @IsString()
  webhookUrl?: string;

  @IsOptional()
  @IsString()
  webhookEvents?: string;

  @IsOptional()
  @Type(() => Number)
  // One message whichever check fails: "50%" is not a number, nor out of range.
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: RESIZE_MESSAGE })
  @Min(0.01, { message: RESIZE_MESSAGE })
  @Max(1, { message: RESIZE_MESSAGE })
  resize?: number;

  @PixelBound('maxWidth')
  maxWidth?: number;

  @PixelBound('maxHeight')
  maxHeight?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: QUALITY_MESSAGE })
  @Min(1, { message: QUALITY_MESSAGE })
  @Max(100, { message: QUALITY_MESSAGE })
  quality?: number;

  @IsOptional()
  @IsIn(OUTPUT_FORMATS, { message: FORMAT_MESSAGE })
  format?: OutputFormat;

  /** A form field is text: the two words a boolean is sent as. */
  @IsOptional()
  @IsIn(['true', 'false'], { message: REUSE_MESSAGE })
  reuse?: 'true' | 'false';
}

/**
 * An optional field with no default, as Swagger UI's "Try it out" must leave it: empty.
 *
 * Swagger UI (5.x) fills every form field before anyone types: with the field's
 * `examples[0]`, `default` or `example` when it has one, and otherwise with a value
 * it makes up from the schema (the minimum, `https://example.com/`, a string
 * matching the pattern); then it sends every field that is not empty. A made-up
 * webhook or size would change a plain upload (a refused webhook, 1-pixel
 * images), so these fields carry the empty string as their example, which
 * Swagger UI leaves unsent. The server takes an empty field as absent, and the
 * schema says so: the field's values, or "".
 */
function leftEmpty(description: string, values: SchemaObject): SchemaObject {
  return { description, anyOf: [values, { type: 'string', enum: [''] }], examples: [''] };
}

const EVENT_ALTERNATIVES = WEBHOOK_EVENT_TYPES.map((type) => type.replaceAll('.', '\\.')).join('|');

/** The upload's multipart body in OpenAPI: the file, then the fields of CreateRequestDto. */
export const UPLOAD_BODY: ApiBodyOptions = {
  schema: {
    type: 'object',
    required: ['file'],
    properties: {
      file: {
        type: 'string',
        format: 'binary',
        description:
          'The CSV: S. No., Product Name, Input Image Urls; separated by comma, semicolon, tab or "|"; UTF-8, or UTF-16 with a BOM',
      },
      webhookUrl: leftEmpty(
        'Receives a signed event (schema WebhookEventDto) when the request reaches a terminal status; empty: no webhook',
        { type: 'string', format: 'uri', maxLength: WEBHOOK_URL_MAX_LENGTH },
      ),
      webhookEvents: leftEmpty(
        `Comma-separated event types; empty: all of them (${WEBHOOK_EVENT_TYPES.join(', ')}). Only with webhookUrl`,
        // A comma-separated list in one form field, so the enum is written as a pattern of its values.
        { type: 'string', pattern: `^(${EVENT_ALTERNATIVES})(,(${EVENT_ALTERNATIVES}))*$` },
      ),
      resize: leftEmpty(
        'Scale factor for both sides (0.5 halves them); not with maxWidth or maxHeight; empty: full size',
        { type: 'number', minimum: 0.01, maximum: 1 },
      ),
      maxWidth: leftEmpty(
        'The output fits inside this width, aspect kept, never enlarged; not with resize; empty: no bound',
        { type: 'integer', minimum: 1, maximum: MAX_DIMENSION },
      ),
      maxHeight: leftEmpty(
        'The output fits inside this height, aspect kept, never enlarged; not with resize; empty: no bound',
        { type: 'integer', minimum: 1, maximum: MAX_DIMENSION },
      ),
      // A default Try it out may send as it is: the same as leaving the field out.
      quality: {
        type: 'integer',
        minimum: 1,
        maximum: 100,
        default: DEFAULT_QUALITY,
        example: DEFAULT_QUALITY,
        description: 'Encoder quality, 1 (smallest) to 100 (best); GIF output has none',
      },
      format: {
        type: 'string',
        enum: [...OUTPUT_FORMATS],
        default: 'keep',
        example: 'keep',
        description:
          '`keep` writes each image in its own format, never larger than its input (the input, stripped of metadata, ' +
          'when re-encoding does not shrink it). Another format is always written, even when larger. JPEG from an ' +
          'image with transparency is flattened onto white; an animation written as JPEG, PNG or AVIF keeps its first frame',
      },
      // A default Try it out may send as it is: the same as leaving the field out.
      reuse: {
        type: 'boolean',
        default: true,
        example: true,
        description:
          'true: an image this tenant uploaded before (same URL, same options) is asked for only if changed ' +
          '(If-None-Match / If-Modified-Since), and when it has not changed (304, or the same bytes) the earlier ' +
          'output is copied instead of encoded again. false: every image is downloaded and encoded',
      },
    },
  },
};
