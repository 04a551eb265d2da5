import { createHash } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { HttpStatus, Injectable } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import type { MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { PinoLogger } from 'nestjs-pino';
import { AppError, ErrorCode } from '../common/app-error.js';
import { AppConfig } from '../config/app-config.js';
import { CreatedRequestDto } from '../requests/dto/request-status.dto.js';
import { DEFAULT_QUALITY, type ProcessingOptions } from '../requests/processing-options.js';
import { owningTenantOf } from '../security/tenant.js';
import { WebhookRegistrar } from '../webhooks/webhook-registration.service.js';
import {
  CsvErrorCode,
  CsvSummary,
  CsvValidationError,
  NotCsvError,
  ParsedProduct,
  SpreadsheetFileError,
} from './csv/csv-contract.js';
import { parseProductCsv } from './csv/product-csv.parser.js';
import { CHECK_PREVIEW_ROWS, CsvCheckDto, toCsvCheckDto } from './dto/csv-check.dto.js';
import { CreateRequestDto } from './dto/create-request.dto.js';
import { IdempotencyService, uploadFingerprint } from './idempotency.service.js';
import { RequestDraft, UploadTimeoutError } from './request-draft.js';
import {
  clientGone,
  hashing,
  MalformedMultipartError,
  multipartParts,
  multipartStream,
  untilAborted,
} from './multipart-body.js';
import { UploadsService } from './uploads.service.js';

const FILE_FIELD = 'file';

/**
 * Reads the multipart upload as a stream: the CSV part goes straight through
 * the parser into a request draft, the other parts are the options. Every
 * rejection is a problem document, and the draft is rolled back with it, so a
 * rejected upload stores nothing.
 */
@Injectable()
export class UploadIntake {
  constructor(
    private readonly uploads: UploadsService,
    private readonly config: AppConfig,
    private readonly webhooks: WebhookRegistrar,
    private readonly idempotency: IdempotencyService,
    private readonly logger: PinoLogger,
  ) {}

  /** `replayed` is true when an earlier upload with the same Idempotency-Key created the request. */
  async accept(request: FastifyRequest): Promise<CreatedRequestDto & { replayed?: boolean }> {
    const idempotencyKey = this.idempotency.scopedKey(request);
    let draft: RequestDraft | undefined;
    let csv: CsvSummary | undefined;
    const csvHash = createHash('sha256');

    try {
      const fields = await this.readBody(request, async (part, gone) => {
        draft = this.uploads.draft(part.filename || 'products.csv');
        const upload = untilAborted(
          hashing(multipartStream(part.file), csvHash),
          AbortSignal.any([draft.signal, gone]),
        );
        csv = await parseProductCsv(upload, this.config.limits, draft);
      });
      if (!draft || !csv) throw fileMissing('No part named "file" was sent.');
      const options = await validateFields(fields);
      const webhook = await this.webhooks.register(options.webhookUrl, options.webhookEvents);
      const processing = processingOptions(options);
      const webhookUrl = webhook?.url ?? null;
      const webhookEvents = webhook?.events ?? null;
      const fingerprint = uploadFingerprint(csvHash.digest('hex'), { ...processing, webhookUrl, webhookEvents });
      if (idempotencyKey) {
        const replayed = await this.idempotency.replay(idempotencyKey, fingerprint);
        if (replayed) {
          await draft.abort();
          return { ...replayed, replayed: true };
        }
      }
      try {
        return await this.uploads.submit(draft, {
          productCount: csv.productCount,
          imageCount: csv.imageCount,
          webhookUrl,
          webhookEvents,
          options: processing,
          idempotencyKey,
          uploadFingerprint: fingerprint,
          tenant: owningTenantOf(request),
        });
      } catch (error) {
        // A concurrent retry with the same key committed first: answer with its request.
        if (!(idempotencyKey && error instanceof UniqueConstraintViolationException)) throw error;
        const replayed = await this.idempotency.replay(idempotencyKey, fingerprint);
        if (!replayed) throw error;
        return { ...replayed, replayed: true };
      }
    } catch (error) {
      await draft?.abort();
      if (request.raw.destroyed && error instanceof MalformedMultipartError) {
        // Nobody is left to answer; a client giving up mid-upload is not a server fault.
        // Fastify's own request logger is off (the access log is ours), so the app's logger says it.
        this.logger.info(
          { reqId: request.id, reason: error.message },
          'client closed the connection during the upload; nothing was stored',
        );
      }
      // The size limit surfaces from the file stream or from the parts iterator, depending on timing.
      throw this.translateParseError(error);
    }
  }

  /**
   * The same body as `accept`, read the same way, but nothing is stored: the
   * caller learns how the CSV was understood, or gets the same problem document.
   */
  async check(request: FastifyRequest): Promise<CsvCheckDto> {
    const firstRows: ParsedProduct[] = [];
    let csv: CsvSummary | undefined;
    try {
      const fields = await this.readBody(request, async (part, gone) => {
        csv = await parseProductCsv(untilAborted(multipartStream(part.file), gone), this.config.limits, {
          header: () => {},
          add: (product) => {
            if (firstRows.length < CHECK_PREVIEW_ROWS) firstRows.push(product);
          },
          ready: async () => {},
        });
      });
      if (!csv) throw fileMissing('No part named "file" was sent.');
      const options = await validateFields(fields);
      // The same refusals as the upload, e.g. resize together with maxWidth.
      processingOptions(options);
      await this.webhooks.register(options.webhookUrl, options.webhookEvents);
      return toCsvCheckDto(csv, firstRows);
    } catch (error) {
      throw this.translateParseError(error);
    }
  }

  /**
   * Walks a multipart body the one way both routes read it: text fields (a
   * blank one counts as absent) are returned, the one file part is handed to
   * `read` and drained afterwards, since the parser may stop early (row limit,
   * bad header) and the request must still end.
   */
  private async readBody(
    request: FastifyRequest,
    read: (part: MultipartFile, gone: AbortSignal) => Promise<void>,
  ): Promise<Record<string, string>> {
    if (!request.isMultipart()) {
      throw new AppError(
        HttpStatus.BAD_REQUEST,
        ErrorCode.NotMultipart,
        'Expected multipart/form-data',
        'Send the CSV as a multipart/form-data part named "file".',
      );
    }
    const fields: Record<string, string> = {};
    const gone = clientGone(request);
    for await (const part of untilAborted(multipartParts(request), gone)) {
      if (part.type === 'field') {
        if (isBlank(part.value)) continue;
        if (part.fieldname === FILE_FIELD) throw fileMissing('The "file" part must be a file, not a text field.');
        fields[part.fieldname] = String(part.value);
        continue;
      }
      if (part.fieldname !== FILE_FIELD) {
        part.file.resume();
        throw new AppError(
          HttpStatus.BAD_REQUEST,
          ErrorCode.BadRequest,
          'Unexpected file part',
          `Only one file, in the part named "file", is accepted; got a file in "${part.fieldname}".`,
        );
      }
      try {
        await read(part, gone);
      } catch (error) {
        // Past the limit the file stream just ends, cut mid-row; the parser would
        // then blame a valid row before the parts iterator reports the limit.
        if (part.file.truncated) throw Object.assign(new Error('file too large'), { code: 'FST_REQ_FILE_TOO_LARGE' });
        throw error;
      } finally {
        part.file.resume();
      }
    }
    return fields;
  }

  private translateParseError(error: unknown): unknown {
    if (error instanceof MalformedMultipartError) {
      return new AppError(
        HttpStatus.BAD_REQUEST,
        ErrorCode.MultipartInvalid,
        'Malformed multipart body',
        error.message,
      );
    }
    if ((error as { code?: string }).code === 'FST_FILES_LIMIT') {
      return new AppError(
        HttpStatus.BAD_REQUEST,
        ErrorCode.TooManyFiles,
        'More than one file',
        'Only one file, in the part named "file", is accepted.',
      );
    }
    if ((error as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
      return new AppError(
        HttpStatus.PAYLOAD_TOO_LARGE,
        ErrorCode.CsvTooLarge,
        'CSV too large',
        `The CSV is larger than the limit of ${this.config.limits.csvBytes} bytes.`,
        { limitBytes: this.config.limits.csvBytes },
      );
    }
    if (error instanceof UploadTimeoutError) {
      return new AppError(
        HttpStatus.REQUEST_TIMEOUT,
        ErrorCode.UploadTimeout,
        'Upload too slow',
        `The rest of the CSV did not arrive within ${error.timeoutMs / 1000} s of its first rows; nothing was stored.`,
        { timeoutMs: error.timeoutMs },
      );
    }
    if (error instanceof SpreadsheetFileError) {
      return new AppError(
        HttpStatus.UNSUPPORTED_MEDIA_TYPE,
        ErrorCode.SpreadsheetNotCsv,
        'The file is a spreadsheet, not a CSV',
        error.message,
        { format: error.format },
      );
    }
    if (error instanceof NotCsvError) {
      return new AppError(HttpStatus.BAD_REQUEST, ErrorCode.NotCsv, 'The file is not a CSV', error.message);
    }
    if (error instanceof CsvValidationError) {
      if (error.issues.length === 1 && error.issues[0].code === CsvErrorCode.EmptyFile) {
        return new AppError(HttpStatus.BAD_REQUEST, ErrorCode.FileEmpty, 'The file is empty', error.issues[0].message);
      }
      const rows = new Set(error.issues.map((issue) => issue.row));
      return new AppError(
        HttpStatus.UNPROCESSABLE_ENTITY,
        ErrorCode.CsvInvalid,
        'The CSV has errors',
        `${error.issueCount} issue(s) in ${rows.size} row(s) or header; nothing was stored.`,
        { errorCount: error.issueCount, errors: error.issues },
      );
    }
    return error;
  }
}

/** Swagger UI and many forms send a cleared field as an empty string; it means "not given". */
function isBlank(value: unknown): boolean {
  return String(value).trim() === '';
}

/**
 * The image options as stored with the request. Each field is valid on its
 * own by now; what is left is how they combine.
 */
function processingOptions(fields: CreateRequestDto): ProcessingOptions {
  const bounded = fields.maxWidth !== undefined || fields.maxHeight !== undefined;
  if (bounded && fields.resize !== undefined) {
    const bounds = ['maxWidth', 'maxHeight'].filter((field) => fields[field as 'maxWidth' | 'maxHeight'] !== undefined);
    throw new AppError(
      HttpStatus.UNPROCESSABLE_ENTITY,
      ErrorCode.OptionsConflict,
      'Conflicting size options',
      `resize scales by a factor and ${bounds.join(' and ')} fit${bounds.length === 1 ? 's' : ''} inside a size: ` +
        'send one or the other, not both.',
      { fields: ['resize', ...bounds] },
    );
  }
  return {
    resize: fields.resize === undefined || fields.resize === 1 ? null : fields.resize,
    maxWidth: fields.maxWidth ?? null,
    maxHeight: fields.maxHeight ?? null,
    quality: fields.quality ?? DEFAULT_QUALITY,
    format: fields.format ?? 'keep',
    // Only when off: absent means on, and the idempotency fingerprint stays what it was without it.
    ...(fields.reuse === 'false' ? { reuse: false as const } : {}),
  };
}

function fileMissing(detail: string): AppError {
  return new AppError(HttpStatus.BAD_REQUEST, ErrorCode.FileMissing, 'No CSV file', detail);
}

async function validateFields(fields: Record<string, string>): Promise<CreateRequestDto> {
  const dto = plainToInstance(CreateRequestDto, fields);
  // One message per field: a value like "50%" would otherwise fail every check of its field at once.
  const errors = await validate(dto, { whitelist: true, forbidNonWhitelisted: true, stopAtFirstError: true });
  if (errors.length > 0) {
    const issues = errors.map((error) => ({
      field: error.property,
      message: Object.values(error.constraints ?? {}).join('; '),
    }));
    throw new AppError(
      HttpStatus.BAD_REQUEST,
      ErrorCode.ValidationFailed,
      'Invalid upload fields',
      issues.map((issue) => `${issue.field}: ${issue.message}`).join('; '),
      { errors: issues },
    );
  }
  return dto;
}
