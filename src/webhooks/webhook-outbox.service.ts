import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { JobQueue } from '../queue/job-queue.service.js';
import { PublicUrls } from '../storage/public-urls.js';
import { requestCounts } from '../requests/request-counts.js';
import { requestLinks } from '../requests/request-links.js';
import { DEFAULT_WEBHOOK_EVENTS, RequestEventOutbox, eventForStatus } from '../requests/request-events.js';
import type { TerminalRequest } from '../requests/request.repository.js';
import { RetrySchedule } from './retry-schedule.js';
import { WebhookDeliveryRepository } from './webhook-delivery.repository.js';
import type { WebhookEventPayload } from './webhook-event.js';

/**
 * The transactional outbox: the event is written by the transaction that
 * sets the terminal status, so one never commits without the other; the
 * queue job that sends it is only a nudge, added after the commit and
 * re-added by the sweep if it is lost.
 */
@Injectable()
export class WebhookOutbox implements RequestEventOutbox {
  constructor(
    private readonly urls: PublicUrls,
    private readonly queue: JobQueue,
    private readonly schedule: RetrySchedule,
    private readonly deliveries: WebhookDeliveryRepository,
  ) {}

  /**
   * Call inside the transaction that has just set the request's terminal
   * status, with the row that statement returned. Returns the new delivery's
   * id, or null when the request has no webhook or did not subscribe to this
   * event.
   */
  // A retried request reaches a terminal status again: a new event, id and delivery per round.
  async recordTerminalEvent(tx: EntityManager, request: TerminalRequest): Promise<string | null> {
    if (!request.webhookUrl) return null;
    const type = eventForStatus(request.status);
    if (!type || !(request.webhookEvents ?? DEFAULT_WEBHOOK_EVENTS).includes(type)) return null;

    const links = requestLinks(request.id);
    const payload: WebhookEventPayload = {
      type,
      timestamp: request.completedAt.toISOString(),
      data: {
        requestId: request.id,
        status: request.status,
        counts: requestCounts(request),
        createdAt: request.createdAt.toISOString(),
        completedAt: request.completedAt.toISOString(),
        links: {
          status: this.urls.api(links.self),
          export: this.urls.api(links.export),
        },
      },
    };
    return this.deliveries.insertEvent(tx, {
      requestId: request.id,
      round: request.retryRound,
      type,
      url: request.webhookUrl,
      payload,
      attemptsAllowed: this.schedule.attemptsAllowed,
    });
  }

  /** Queues the first attempt; call only after the recording transaction committed. */
  async dispatch(deliveryId: string): Promise<void> {
    await this.queue.enqueueWebhookDelivery(deliveryId, 1);
  }
}
