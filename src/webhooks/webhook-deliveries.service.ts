import { HttpStatus, Injectable } from '@nestjs/common';
import { AppError, ErrorCode } from '../common/app-error.js';
import { JobQueue } from '../queue/job-queue.service.js';
import { RequestsService } from '../requests/requests.service.js';
import { WebhookAttemptDto, WebhookDeliveryDto, WebhookDeliveryListDto } from './dto/webhook-delivery.dto.js';
import type { WebhookEventDto } from './dto/webhook-event.dto.js';
import type { WebhookAttempt } from './webhook-attempt.entity.js';
import { WebhookDeliveryRepository } from './webhook-delivery.repository.js';
import type { WebhookDelivery } from './webhook-delivery.entity.js';
import type { WebhookEventType } from '../requests/request-events.js';

@Injectable()
export class WebhookDeliveriesService {
  constructor(
    private readonly requests: RequestsService,
    private readonly deliveries: WebhookDeliveryRepository,
    private readonly queue: JobQueue,
  ) {}

  async list(requestId: string): Promise<WebhookDeliveryListDto> {
    await this.requests.findOrFail(requestId);
    const rows = await this.deliveries.listForRequest(requestId);
    return { items: rows.map(({ delivery, attempts }) => toWebhookDeliveryDto(delivery, attempts)) };
  }

  /** One more attempt of a finished delivery, with the same webhook-id and body. */
  async redeliver(requestId: string, deliveryId: string): Promise<WebhookDeliveryDto> {
    await this.requests.findOrFail(requestId);
    const result = await this.deliveries.requestRedelivery(requestId, deliveryId);
    if (result === null) {
      throw new AppError(
        HttpStatus.NOT_FOUND,
        ErrorCode.WebhookDeliveryNotFound,
        'Webhook delivery not found',
        `Request ${requestId} has no webhook delivery ${deliveryId}.`,
      );
    }
    if (!result.redelivered) {
      throw new AppError(
        HttpStatus.CONFLICT,
        ErrorCode.WebhookDeliveryInProgress,
        'Webhook delivery still in progress',
        `The delivery is ${result.status}: its next attempt is already scheduled. Redeliver it once it has finished.`,
      );
    }
    // Read before queueing, so the answer is the state the redelivery created, not a race with the worker.
    const { items } = await this.list(requestId);
    await this.queue.enqueueWebhookDelivery(deliveryId, result.nextAttempt);
    return items.find((item) => item.id === deliveryId)!;
  }
}

export function toWebhookDeliveryDto(delivery: WebhookDelivery, attempts: WebhookAttempt[]): WebhookDeliveryDto {
  return {
    id: delivery.id,
    eventId: delivery.eventId,
    eventType: delivery.eventType as WebhookEventType,
    url: delivery.url,
    status: delivery.status,
    attemptCount: delivery.attemptCount,
    attemptsAllowed: delivery.attemptsAllowed,
    nextAttemptAt: delivery.nextAttemptAt?.toISOString() ?? null,
    lastStatusCode: delivery.lastStatusCode,
    lastError: delivery.lastError,
    createdAt: delivery.createdAt.toISOString(),
    deliveredAt: delivery.deliveredAt?.toISOString() ?? null,
    payload: JSON.parse(delivery.payload) as WebhookEventDto,
    attempts: attempts.map(toWebhookAttemptDto),
  };
}

function toWebhookAttemptDto(attempt: WebhookAttempt): WebhookAttemptDto {
  return {
    number: attempt.number,
    manual: attempt.manual,
    startedAt: attempt.startedAt.toISOString(),
    finishedAt: attempt.finishedAt?.toISOString() ?? null,
    durationMs: attempt.durationMs,
    statusCode: attempt.statusCode,
    errorCode: attempt.errorCode,
    error: attempt.errorMessage,
    responseBody: attempt.responseBody,
    nextAttemptAt: attempt.nextAttemptAt?.toISOString() ?? null,
  };
}
