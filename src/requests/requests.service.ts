import { HttpStatus, Injectable } from '@nestjs/common';
import { AppError, ErrorCode } from '../common/app-error.js';
import { WebhookDeliveryRepository } from '../webhooks/webhook-delivery.repository.js';
import { DEFAULT_WEBHOOK_EVENTS, type WebhookEventType } from '../webhooks/webhook-event.js';
import { ImageErrorSummaryDto, RequestStatusDto, RequestWebhookDto } from './dto/request-status.dto.js';
import { ProcessingRequest } from './processing-request.entity.js';
import { RequestImageErrors } from './request-image-errors.js';
import { requestLinks } from './request-links.js';
import { RequestRepository } from './request.repository.js';
import { isTerminal } from './request-status.js';

const FIRST_ERRORS = 10;

@Injectable()
export class RequestsService {
  constructor(
    private readonly requests: RequestRepository,
    private readonly imageErrors: RequestImageErrors,
    private readonly webhookDeliveries: WebhookDeliveryRepository,
  ) {}

  /** Loads a request or answers 404; callers have already validated the id's shape. */
  async findOrFail(requestId: string): Promise<ProcessingRequest> {
    const request = await this.requests.findById(requestId);
    if (!request) throw requestNotFound(requestId);
    return request;
  }

  /** The tenant a request belongs to, or null when there is no such request. */
  ownerOf(requestId: string): Promise<string | null> {
    return this.requests.ownerOf(requestId);
  }

  /** Answers from the request's counters; only the first few errors touch the image table. */
  async getStatus(requestId: string): Promise<RequestStatusDto> {
    const request = await this.findOrFail(requestId);
    const errors = request.imagesFailed > 0 ? await this.imageErrors.firstErrors(requestId, FIRST_ERRORS) : [];
    return toRequestStatusDto(request, errors, request.webhookUrl ? await this.webhookState(request) : null);
  }

  private async webhookState(request: ProcessingRequest): Promise<RequestWebhookDto> {
    const delivery = isTerminal(request.status) ? await this.webhookDeliveries.summaryForRequest(request.id, request.retryRound) : null;
    return {
      url: request.webhookUrl!,
      events: (request.webhookEvents ?? DEFAULT_WEBHOOK_EVENTS) as WebhookEventType[],
      // The event is written with the terminal status, so a terminal request without one did not subscribe to it.
      state: !isTerminal(request.status) ? 'awaiting_completion' : (delivery?.status ?? 'not_subscribed'),
      attempts: delivery?.attemptCount ?? 0,
      nextAttemptAt: delivery?.nextAttemptAt?.toISOString() ?? null,
      deliveredAt: delivery?.deliveredAt?.toISOString() ?? null,
      deliveries: `${requestLinks(request.id).self}/webhook-deliveries`,
    };
  }
}

/** What a missing request, and another tenant's, answers. */
export function requestNotFound(requestId: string): AppError {
  return new AppError(
    HttpStatus.NOT_FOUND,
    ErrorCode.RequestNotFound,
    'Request not found',
    `No processing request has the id ${requestId}.`,
  );
}

export function toRequestStatusDto(
  request: ProcessingRequest,
  errors: ImageErrorSummaryDto[],
  webhook: RequestWebhookDto | null,
): RequestStatusDto {
  const done = request.imagesSucceeded + request.imagesFailed + request.imagesCancelled;
  return {
    requestId: request.id,
    status: request.status,
    completed: isTerminal(request.status),
    originalFilename: request.originalFilename,
    options: { resize: request.options.resize },
    counts: {
      products: { total: request.productCount, processed: request.productsProcessed },
      images: {
        total: request.imageCount,
        succeeded: request.imagesSucceeded,
        failed: request.imagesFailed,
        cancelled: request.imagesCancelled,
        pending: request.imageCount - done,
      },
    },
    percent: request.imageCount === 0 ? 100 : Math.floor((done / request.imageCount) * 1000) / 10,
    round: request.retryRound,
    createdAt: request.createdAt.toISOString(),
    startedAt: request.startedAt?.toISOString() ?? null,
    completedAt: request.completedAt?.toISOString() ?? null,
    errors,
    links: requestLinks(request.id),
    webhook,
  };
}
