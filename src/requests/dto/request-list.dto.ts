import { ApiProperty, PickType } from '@nestjs/swagger';
import { RequestStatusDto } from './request-status.dto.js';

/** The status without the per-request lookups (errors, paused hosts, webhook), so a page is one indexed query. */
export class RequestSummaryDto extends PickType(RequestStatusDto, [
  'requestId',
  'status',
  'completed',
  'originalFilename',
  'counts',
  'percent',
  'round',
  'createdAt',
  'startedAt',
  'completedAt',
  'links',
] as const) {}

export class RequestListDto {
  @ApiProperty({ type: [RequestSummaryDto], description: 'Newest first' }) items: RequestSummaryDto[];
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `cursor` (with the same filters) for the next page; null on the last page',
  })
  nextCursor: string | null;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description: 'Requests matching the filters, over every page (the cursor aside), counted when this page was read',
    example: 45,
  })
  total: number;
}
