import { applyDecorators, Controller, HttpCode, HttpStatus, Post, Req, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiHeaderOptions,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiProblemResponses } from '../common/api-problem-responses.decorator.js';
import { LegacyAlias } from '../common/legacy-alias.decorator.js';
import { RateLimit } from '../common/rate-limit.decorator.js';
import { CreatedRequestDto } from '../requests/dto/request-status.dto.js';
import { REQUEST_ID_LINKS } from '../requests/request-links.js';
import { UPLOAD_BODY } from './dto/create-request.dto.js';
import { CsvCheckDto } from './dto/csv-check.dto.js';
import { UploadIntake } from './upload-intake.service.js';

const UPLOAD_PROBLEMS = {
  400: 'Not multipart/form-data, no `file` part, an empty file, a body that is not CSV text, or invalid fields',
  409: 'The Idempotency-Key was already used for a different file or options (IDEMPOTENCY_KEY_REUSED)',
  408:
    'The rest of a large CSV did not arrive within UPLOAD_TIMEOUT_MS of its first rows being stored (UPLOAD_TIMEOUT); ' +
    'nothing was stored',
  413: 'The CSV is larger than the configured limit',
  415: 'The file is an Excel workbook, .xlsx or .xls (SPREADSHEET_NOT_CSV): save it as "CSV UTF-8" and upload that',
  422:
    'The CSV has invalid rows or headers (CSV_INVALID: every issue is listed with its row, line and column), ' +
    'resize was sent with maxWidth or maxHeight (OPTIONS_CONFLICT), or the webhook fields are refused ' +
    '(WEBHOOK_URL_INVALID, WEBHOOK_URL_BLOCKED, WEBHOOK_EVENTS_INVALID); nothing was stored',
  // The queue is not asked before the answer: a committed upload waits in PostgreSQL for the dispatcher.
  503: 'A webhookUrl was sent but the server has no WEBHOOK_SIGNING_SECRET (WEBHOOKS_NOT_CONFIGURED); nothing was stored',
};

const CHECK_PROBLEMS = {
  400: UPLOAD_PROBLEMS[400],
  413: UPLOAD_PROBLEMS[413],
  415: UPLOAD_PROBLEMS[415],
  422: UPLOAD_PROBLEMS[422],
  503: 'A webhookUrl was sent but the server has no WEBHOOK_SIGNING_SECRET (WEBHOOKS_NOT_CONFIGURED)',
};

const IDEMPOTENCY_HEADER: ApiHeaderOptions = {
  name: 'Idempotency-Key',
  required: false,
  description:
    'Makes a retried upload safe: the same key with the same file and options returns the request it created ' +
    '(with `Idempotent-Replayed: true`); the same key with a different upload is a 409. Scoped per API key.',
  // The same rule as IdempotencyService: 1-255 printable ASCII characters, no spaces.
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[!-~]+$' },
};

const CREATED_HEADERS = {
  Location: { description: 'URL of the new request (links.self)', schema: { type: 'string' } },
  'Idempotent-Replayed': {
    description: '`true` when an earlier upload with the same Idempotency-Key created this request',
    schema: { type: 'string', enum: ['true'] },
  },
};

/** The upload's rate limit, status and documentation: one stack for its route and the two aliases. */
function UploadRoute(): MethodDecorator {
  return applyDecorators(
    RateLimit('uploads'),
    HttpCode(HttpStatus.ACCEPTED),
    ApiConsumes('multipart/form-data'),
    ApiBody(UPLOAD_BODY),
    ApiHeader(IDEMPOTENCY_HEADER),
    ApiAcceptedResponse({ type: CreatedRequestDto, headers: CREATED_HEADERS, links: REQUEST_ID_LINKS }),
    ApiProblemResponses(UPLOAD_PROBLEMS),
  );
}

@ApiTags('requests')
@Controller()
export class UploadsController {
  constructor(private readonly intake: UploadIntake) {}

  @Post('api/v1/requests')
  @UploadRoute()
  @ApiOperation({
    summary: 'Upload a CSV of products; images are processed in the background',
    operationId: 'createRequest',
    description:
      'Streams the CSV through the parser and stores the request, its products and images in one transaction, then answers 202 before any image is fetched. A rejected CSV stores nothing; every row error is listed at once.',
  })
  createRequest(@Req() request: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply) {
    return this.accept(request, reply);
  }

  @Post('upload')
  @LegacyAlias('uploadLegacy', 'Upload', 'POST /api/v1/requests', '; the answer also carries `request_id`')
  @UploadRoute()
  uploadLegacy(@Req() request: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply) {
    return this.acceptLegacy(request, reply);
  }

  @Post('api/upload')
  @LegacyAlias('apiUploadLegacy', 'Upload', 'POST /api/v1/requests', '; the answer also carries `request_id`')
  @UploadRoute()
  apiUploadLegacy(@Req() request: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply) {
    return this.acceptLegacy(request, reply);
  }

  @Post('api/v1/requests/validate')
  @RateLimit('uploads')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Check a CSV without storing anything: how it was read (separator, encoding, columns, counts, first rows)',
    operationId: 'validateRequest',
    description:
      'Takes the same multipart body as createRequest and runs the same parser and checks, but stores nothing and ' +
      'queues nothing. Answers how the file was read, or the same problem document the upload would answer.',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody(UPLOAD_BODY)
  @ApiOkResponse({ type: CsvCheckDto, description: 'How the CSV was read; nothing was stored' })
  @ApiProblemResponses(CHECK_PROBLEMS)
  validateRequest(@Req() request: FastifyRequest): Promise<CsvCheckDto> {
    return this.intake.check(request);
  }

  /** The original designs answered with `request_id`; keep it beside the v1 fields. */
  private async acceptLegacy(request: FastifyRequest, reply: FastifyReply) {
    const created = await this.accept(request, reply);
    return { ...created, request_id: created.requestId };
  }

  private async accept(request: FastifyRequest, reply: FastifyReply): Promise<CreatedRequestDto> {
    const { replayed, ...created } = await this.intake.accept(request);
    void reply.header('location', created.links.self);
    if (replayed) void reply.header('idempotent-replayed', 'true');
    return created;
  }
}
