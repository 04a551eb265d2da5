import { Injectable } from '@nestjs/common';
import { requestNotFound } from '../common/app-error.js';
import { ImageErrorSummaryDto, PausedHostDto, RequestStatusDto, RequestWebhookDto } from './dto/request-status.dto.js';
import { withDefaults } from './processing-options.js';
import { RequestWebhookState } from './webhook-state.port.js';
import { ProcessingRequest } from './processing-request.entity.js';
import { RequestImageErrors } from './request-image-errors.js';
import { RequestPausedHosts } from './request-paused-hosts.js';
import { requestLinks } from './request-links.js';
import { RequestRepository, type RequestStatusRow } from './request.repository.js';
import { percentDone, requestCounts } from './request-counts.js';
import { isTerminal } from './request-status.js';

const FIRST_ERRORS = 10;

@Injectable()
export class RequestsService {
  constructor(
    private readonly requests: RequestRepository,
    private readonly imageErrors: RequestImageErrors,
    private readonly pausedHosts: RequestPausedHosts,
    private readonly webhooks: RequestWebhookState,
  ) {}

  /** Loads a request or answers 404; callers have already validated the id's shape. */
  async findOrFail(requestId: string): Promise<ProcessingRequest> {
    const request = await this.requests.findById(requestId);
    if (!request) throw requestNotFound(requestId);
    return request;
  }

  /**
   * Answers from the request's counters; only the first few errors and, while
   * the request is open, the paused hosts it waits on touch the image table.
   * The paused hosts are read beside the request row rather than after it, so
   * that a status read during a batch waits for one round trip, not two (bench,
   * section status); they come back empty for a request that is terminal, and
   * are dropped with the 404 of one the caller may not see. The request is
   * read as a plain row, not an entity (RequestRepository.statusOf).
   */
  async getStatus(requestId: string): Promise<RequestStatusDto> {
    const [request, paused] = await Promise.all([
      this.requests.statusOf(requestId),
      this.pausedHosts.pausedHostsOf(requestId),
    ]);
    if (!request) throw requestNotFound(requestId);
    const [errors, webhook] = await Promise.all([
      request.imagesFailed > 0 ? this.imageErrors.firstErrors(requestId, FIRST_ERRORS) : [],
      request.webhookUrl ? this.webhooks.stateOf(request) : null,
    ]);
    return toRequestStatusDto(
      request,
      errors,
      paused.map((host) => ({ host: host.host, until: host.until.toISOString() })),
      webhook,
    );
  }
}

export function toRequestStatusDto(
  request: RequestStatusRow,
  errors: ImageErrorSummaryDto[],
  pausedHosts: PausedHostDto[],
  webhook: RequestWebhookDto | null,
): RequestStatusDto {
  return {
    requestId: request.id,
    status: request.status,
    completed: isTerminal(request.status),
    originalFilename: request.originalFilename,
    options: withDefaults(request.options),
    counts: requestCounts(request),
    percent: percentDone(request),
    round: request.retryRound,
    createdAt: request.createdAt.toISOString(),
    startedAt: request.startedAt?.toISOString() ?? null,
    completedAt: request.completedAt?.toISOString() ?? null,
    errors,
    pausedHosts,
    links: requestLinks(request.id),
    webhook,
  };
}
