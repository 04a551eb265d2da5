import { Injectable } from '@nestjs/common';
import type { RequestWebhookDto, WebhookState } from '../requests/dto/request-status.dto.js';
import type { RequestStatusRow } from '../requests/request.repository.js';
import { DEFAULT_WEBHOOK_EVENTS, type WebhookEventType } from '../requests/request-events.js';
import { RequestWebhookState } from '../requests/webhook-state.port.js';
import { requestLinks } from '../requests/request-links.js';
import { isTerminal } from '../requests/request-status.js';
import type { WebhookDeliveryStatus } from './webhook-delivery-status.js';
import { WebhookDeliveryRepository } from './webhook-delivery.repository.js';

// Every delivery status must be one the request's status can report.
const reportable = (status: WebhookDeliveryStatus): WebhookState => status;

/** The `webhook` part of a request's status, from its latest delivery. */
@Injectable()
export class WebhookStateReporter implements RequestWebhookState {
  constructor(private readonly deliveries: WebhookDeliveryRepository) {}

  async stateOf(request: RequestStatusRow): Promise<RequestWebhookDto> {
    const delivery = isTerminal(request.status)
      ? await this.deliveries.summaryForRequest(request.id, request.retryRound)
      : null;
    return {
      url: request.webhookUrl!,
      events: (request.webhookEvents ?? DEFAULT_WEBHOOK_EVENTS) as WebhookEventType[],
      // The event is written with the terminal status, so a terminal request without one did not subscribe to it.
      state: !isTerminal(request.status)
        ? 'awaiting_completion'
        : delivery
          ? reportable(delivery.status)
          : 'not_subscribed',
      attempts: delivery?.attemptCount ?? 0,
      nextAttemptAt: delivery?.nextAttemptAt?.toISOString() ?? null,
      deliveredAt: delivery?.deliveredAt?.toISOString() ?? null,
      deliveries: `${requestLinks(request.id).self}/webhook-deliveries`,
    };
  }
}
