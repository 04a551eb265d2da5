import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class ProblemIssueDto {
  @ApiPropertyOptional({ type: 'integer', nullable: true, description: 'CSV data row (1-based, header excluded)' })
  row?: number | null;
  @ApiPropertyOptional({ type: 'integer', nullable: true, description: 'Physical line in the file (1-based)' }) line?:
    number | null;
  @ApiPropertyOptional({ nullable: true, type: String, example: 'Input Image Urls' }) column?: string | null;
  @ApiPropertyOptional({ type: 'integer', nullable: true, description: '1-based column position' }) columnIndex?:
    number | null;
  @ApiPropertyOptional({ example: 'INVALID_URL' }) code?: string;
  @ApiPropertyOptional({
    example: 'resize',
    description: 'The form field at fault (VALIDATION_FAILED on upload fields)',
  })
  field?: string;
  @ApiProperty({ example: 'URL 2 "htp:/x" is not a valid http(s) URL' }) message: string;
}

/** RFC 9457 problem document with pixbatch's extension members. */
export class ProblemDocumentDto {
  @ApiProperty({ example: 'https://pixbatch.dev/problems/csv-invalid' }) type: string;
  @ApiProperty({ example: 'The CSV has errors' }) title: string;
  @ApiProperty({ type: 'integer', example: 422 }) status: number;
  @ApiProperty({ example: 'CSV_INVALID', description: 'Stable machine-readable code' }) code: string;
  @ApiPropertyOptional({ example: '2 rows have errors; nothing was stored.' }) detail?: string;
  @ApiPropertyOptional({ example: '/api/v1/requests' }) instance?: string;
  @ApiPropertyOptional({ type: [ProblemIssueDto] }) errors?: ProblemIssueDto[];
  @ApiPropertyOptional({ type: 'integer', description: 'Total number of issues when `errors` was truncated' })
  errorCount?: number;
  @ApiPropertyOptional({
    type: 'integer',
    example: 30,
    description: 'RATE_LIMITED: seconds until the window resets (also in Retry-After)',
  })
  retryAfterSeconds?: number;
  @ApiPropertyOptional({
    enum: ['requests', 'uploads', 'writes'],
    example: 'uploads',
    description: 'RATE_LIMITED: the budget that ran out',
  })
  rateLimit?: 'requests' | 'uploads' | 'writes';
  @ApiPropertyOptional({ type: 'integer', example: 52428800, description: 'CSV_TOO_LARGE: the configured limit' })
  limitBytes?: number;
  @ApiPropertyOptional({ example: 'processing', description: 'REQUEST_NOT_FINISHED: the current status' })
  requestStatus?: string;
  @ApiPropertyOptional({
    format: 'uuid',
    description: 'IDEMPOTENCY_KEY_REUSED: the request the key created first',
  })
  requestId?: string;
  @ApiPropertyOptional({
    type: 'integer',
    example: 120000,
    description: 'UPLOAD_TIMEOUT: how long the rest of the CSV had to arrive, in milliseconds',
  })
  timeoutMs?: number;
  @ApiPropertyOptional({ enum: ['xlsx', 'xls'], description: 'SPREADSHEET_NOT_CSV: the workbook format sent' })
  format?: 'xlsx' | 'xls';
  @ApiPropertyOptional({
    type: [String],
    example: ['resize', 'maxWidth'],
    description: 'OPTIONS_CONFLICT: the form fields that cannot be sent together',
  })
  fields?: string[];
  @ApiPropertyOptional({
    example: 'webhookUrl',
    description: 'WEBHOOK_URL_INVALID, WEBHOOK_URL_BLOCKED, WEBHOOK_EVENTS_INVALID: the form field at fault',
  })
  field?: string;
}
