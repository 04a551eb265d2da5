import { HttpStatus, Injectable } from '@nestjs/common';
import { AppError, ErrorCode } from '../common/app-error.js';
import { isRequestId } from '../common/parse-request-id.pipe.js';
import type { ListRequestsQuery } from './dto/list-requests.query.js';
import type { RequestListDto, RequestSummaryDto } from './dto/request-list.dto.js';
import type { RequestStatusDto } from './dto/request-status.dto.js';
import { type ListPosition, RequestRepository } from './request.repository.js';
import { toRequestStatusDto } from './requests.service.js';

/** PostgreSQL's text form of a timestamptz: the cursor keeps its microseconds, which a JS Date would drop. */
const PG_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/;

/**
 * The request list: newest first, keyset-paginated on (created_at, id) so a
 * page costs the same however deep it is, read from the (tenant, created_at,
 * id) index (or (created_at, id) on an open service, which lists everyone's).
 */
@Injectable()
export class RequestListQuery {
  constructor(private readonly requests: RequestRepository) {}

  async list(tenant: string | null, query: ListRequestsQuery): Promise<RequestListDto> {
    const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
    // One row more than asked tells whether there is a next page.
    const [rows, total] = await Promise.all([
      this.requests.listPage(tenant, query, after, query.limit + 1),
      this.requests.countMatching(tenant, query),
    ]);
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: page.map((row) => toSummary(toRequestStatusDto(row.request, [], [], null))),
      nextCursor:
        rows.length > query.limit && last
          ? encodeCursor({ createdAt: last.cursorCreatedAt, id: last.request.id })
          : null,
      total,
    };
  }
}

/**
 * A status as the list shows it: without the per-request lookups (errors, paused
 * hosts, webhook) and the options. Field by field, so that the response and its
 * schema (RequestSummaryDto) cannot drift apart without a compile error.
 */
function toSummary(status: RequestStatusDto): RequestSummaryDto {
  return {
    requestId: status.requestId,
    status: status.status,
    completed: status.completed,
    originalFilename: status.originalFilename,
    counts: status.counts,
    percent: status.percent,
    round: status.round,
    createdAt: status.createdAt,
    startedAt: status.startedAt,
    completedAt: status.completedAt,
    links: status.links,
  };
}

function encodeCursor(position: ListPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id])).toString('base64url');
}

function decodeCursor(cursor: string): ListPosition {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'string' && PG_TIMESTAMP.test(createdAt) && isRequestId(id)) return { createdAt, id };
  } catch {
    // Falls through to the same answer as a well-formed but foreign cursor.
  }
  throw new AppError(
    HttpStatus.BAD_REQUEST,
    ErrorCode.InvalidCursor,
    'Invalid cursor',
    'A cursor is the nextCursor of a previous page of this list, passed as it was.',
  );
}
