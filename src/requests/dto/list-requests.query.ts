import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsDate, IsEnum, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { RequestStatus } from '../request-status.js';

export const MAX_LIST_LIMIT = 200;

/** `status=a&status=b` and `status=a,b` both mean either status. */
const toStatusList = ({ value }: { value: unknown }) =>
  value === undefined
    ? undefined
    : [value]
        .flat()
        // The query string parser yields strings; anything else is left for @IsEnum to refuse.
        .flatMap((item) => (typeof item === 'string' ? item.split(',') : [item]))
        .filter(Boolean);

export class ListRequestsQuery {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_LIST_LIMIT)
  limit: number = 50;

  @ApiPropertyOptional({
    description: "The previous page's `nextCursor`, opaque; send the same filters with it",
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;

  @ApiPropertyOptional({
    enum: RequestStatus,
    enumName: 'RequestStatus',
    isArray: true,
    description: 'Only these statuses; repeat the parameter or separate with commas',
  })
  @IsOptional()
  @Transform(toStatusList)
  @IsEnum(RequestStatus, { each: true })
  status?: RequestStatus[];

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'Only requests created at or after this time',
  })
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  createdAfter?: Date;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'Only requests created before this time' })
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  createdBefore?: Date;
}
