import { randomUUID } from 'node:crypto';
import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { JobQueue } from '../queue/job-queue.service.js';
import { PublicUrls } from '../storage/public-urls.js';
import { requestLinks } from '../requests/request-links.js';
import type { RequestStatus } from '../requests/request-status.js';
import { RetrySchedule } from './retry-schedule.js';
import { DEFAULT_WEBHOOK_EVENTS, type WebhookEventPayload, eventForStatus } from './webhook-event.js';

/**
 * The transactional outbox: the event is written by the transaction that
 * sets the terminal status, so one never commits without the other; the
 * queue job that sends it is only a nudge, added after the commit and
 * re-added by the sweep if it is lost.
 */
@Injectable()
export class WebhookOutbox {
  constructor(
    private readonly urls: PublicUrls,
    private readonly queue: JobQueue,
    private readonly schedule: RetrySchedule,
  ) {}

  /**
   * Call inside the transaction that has just set the request's terminal
   * status. Returns the new delivery's id, or null when the request has no
   * webhook or did not subscribe to this event.
   */
  async recordTerminalEvent(tx: EntityManager, requestId: string): Promise<string | null> {
    const [request] = await tx.execute<
      {
        status: RequestStatus;
        webhook_url: string | null;
        webhook_events: string[] | null;
        product_count: number;
        products_processed: number;
        image_count: number;
        images_succeeded: number;
        images_failed: number;
        created_at: Date;
        completed_at: Date;
      }[]
    >(
      `SELECT status, webhook_url, webhook_events, product_count, products_processed, image_count,
              images_succeeded, images_failed, created_at, completed_at
         FROM processing_request WHERE id = ?`,
      [requestId],
    );
    if (!request?.webhook_url) return null;
    const type = eventForStatus(request.status);
    if (!type || !(request.webhook_events ?? DEFAULT_WEBHOOK_EVENTS).includes(type)) return null;

    const links = requestLinks(requestId);
    const payload: WebhookEventPayload = {
      type,
      timestamp: new Date(request.completed_at).toISOString(),
      data: {
        requestId,
        status: request.status,
        counts: {
          products: { total: request.product_count, processed: request.products_processed },
          images: {
            total: request.image_count,
            succeeded: request.images_succeeded,
            failed: request.images_failed,
            pending: request.image_count - request.images_succeeded - request.images_failed,
          },
        },
        createdAt: new Date(request.created_at).toISOString(),
        completedAt: new Date(request.completed_at).toISOString(),
        links: {
          status: this.urls.api(links.self),
          export: this.urls.api(links.export),
        },
      },
    };
    const [inserted] = await tx.execute<{ id: string }[]>(
      `INSERT INTO webhook_delivery
         (id, request_id, event_id, event_type, url, payload, status, attempts_allowed, next_attempt_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, now(), now())
       ON CONFLICT (request_id, event_type) DO NOTHING
       RETURNING id`,
      [
        randomUUID(),
        requestId,
        `msg_${randomUUID().replaceAll('-', '')}`,
        type,
        request.webhook_url,
        JSON.stringify(payload),
        this.schedule.attemptsAllowed,
      ],
    );
    return inserted?.id ?? null;
  }

  /** Queues the first attempt; call only after the recording transaction committed. */
  async dispatch(deliveryId: string): Promise<void> {
    await this.queue.enqueueWebhookDelivery(deliveryId, 1);
  }
}
