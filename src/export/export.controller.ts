import { applyDecorators, Controller, Get, HttpStatus, Param, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AppError, ErrorCode } from '../common/app-error.js';
import { ApiProblemResponses } from '../common/api-problem-responses.decorator.js';
import { LegacyAlias } from '../common/legacy-alias.decorator.js';
import { ParseRequestIdPipe } from '../common/parse-request-id.pipe.js';
import { isTerminal } from '../requests/request-status.js';
import { RequestsService } from '../requests/requests.service.js';
import { ArchiveService } from './archive.service.js';
import { ExportService } from './export.service.js';

const EXPORT_PROBLEMS = {
  400: 'Malformed request id',
  404: 'Unknown request id',
  409: 'The request has not finished yet; poll its status',
};

/** The result CSV by request id: the v1 route and its alias answer alike. */
function ResultCsvResponses(): MethodDecorator {
  return applyDecorators(
    ApiParam({ name: 'id', format: 'uuid' }),
    ApiProduces('text/csv'),
    ApiOkResponse({ description: 'The result CSV (UTF-8 with BOM, CRLF)', schema: { type: 'string' } }),
    ApiProblemResponses(EXPORT_PROBLEMS),
  );
}

@ApiTags('requests')
@Controller()
export class ExportController {
  constructor(
    private readonly requests: RequestsService,
    private readonly exporter: ExportService,
    private readonly archives: ArchiveService,
  ) {}

  @Get('api/v1/requests/:id/export')
  @ApiOperation({
    summary: 'Result CSV: the input columns, then Output Image Urls aligned with the inputs, then Errors',
    operationId: 'exportRequest',
    description:
      'Streams the result CSV (UTF-8 with a BOM, in the input delimiter) from the database; output URLs are derived from storage keys when asked. 409 REQUEST_NOT_FINISHED until the request is terminal.',
  })
  @ResultCsvResponses()
  exportRequest(@Param('id', ParseRequestIdPipe) id: string, @Res() reply: FastifyReply): Promise<void> {
    return this.send(id, reply);
  }

  @Get('export/:id')
  @LegacyAlias('exportRequestLegacy', 'Result CSV', 'GET /api/v1/requests/{id}/export')
  @ResultCsvResponses()
  exportRequestLegacy(@Param('id', ParseRequestIdPipe) id: string, @Res() reply: FastifyReply): Promise<void> {
    return this.send(id, reply);
  }

  @Get('api/v1/requests/:id/archive')
  @ApiOperation({
    summary: 'Every output image in one ZIP, a folder per product, with the result CSV',
    operationId: 'archiveRequest',
    description:
      'Streams a ZIP: a folder per product (`<serial>-<product name>`) holding its output images under their file ' +
      'names, and the result CSV at the root. Failed images are absent (the CSV says why). Images are stored ' +
      'uncompressed inside the ZIP, as they are compressed already. 409 REQUEST_NOT_FINISHED until the request is terminal.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiProduces('application/zip')
  @ApiOkResponse({ description: 'The ZIP archive', schema: { type: 'string', format: 'binary' } })
  @ApiProblemResponses(EXPORT_PROBLEMS)
  async archiveRequest(@Param('id', ParseRequestIdPipe) id: string, @Res() reply: FastifyReply): Promise<void> {
    const request = await this.finished(id, 'archive');
    const base = baseName(request.originalFilename);
    // Streamed as it is built: the length is not known before the last image.
    await reply
      .header('content-type', 'application/zip')
      .header('content-disposition', contentDisposition(`${base}-images.zip`))
      .send(
        this.archives.archive({
          id,
          columns: request.columns,
          csvDelimiter: request.csvDelimiter,
          resultFilename: `${base}-result.csv`,
        }),
      );
  }

  private async send(id: string, reply: FastifyReply): Promise<void> {
    const request = await this.finished(id, 'export');
    // Streamed as it is read: the length is not known before the last page.
    await reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', contentDisposition(`${baseName(request.originalFilename)}-result.csv`))
      .send(this.exporter.resultCsv(id, request.columns, request.csvDelimiter));
  }

  private async finished(id: string, what: string) {
    const request = await this.requests.findOrFail(id);
    if (!isTerminal(request.status)) {
      throw new AppError(
        HttpStatus.CONFLICT,
        ErrorCode.RequestNotFinished,
        'Request not finished',
        `The request is ${request.status}; the ${what} is available once it is completed, completed_with_errors or failed.`,
        { requestStatus: request.status },
      );
    }
    return request;
  }
}

function baseName(originalFilename: string): string {
  return originalFilename.replace(/\.csv$/i, '') || 'products';
}

/** RFC 6266 filename with an ASCII fallback, so any uploaded name is safe in the header. */
function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
