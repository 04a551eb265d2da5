import { randomUUID } from 'node:crypto';
import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import type { DeliveryDecision } from './retry-schedule.js';
import { WebhookAttempt } from './webhook-attempt.entity.js';
import { WebhookDeliveryStatus } from './webhook-delivery-status.js';
import { WebhookDelivery } from './webhook-delivery.entity.js';
import type { SentAttempt } from './webhook-sender.js';

/** An attempt this worker now owns: the row is `sending` and leased to it. */
export interface ClaimedAttempt {
  deliveryId: string;
  eventId: string;
  url: string;
  payload: string;
  number: number;
  attemptsAllowed: number;
}

export type ClaimResult =
  | { kind: 'claimed'; attempt: ClaimedAttempt }
  /** Pending, but its time has not come by the database's clock. */
  | { kind: 'not-due'; waitMs: number }
  /** Another worker holds a live lease, the delivery is finished, or it no longer exists. */
  | { kind: 'skipped'; reason: string };

export interface DueDelivery {
  id: string;
  nextAttempt: number;
}

const SENDING = WebhookDeliveryStatus.Sending;
const PENDING = WebhookDeliveryStatus.Pending;
// now() is the transaction's start, so both statements of record() compute the same instant.
const NEXT_ATTEMPT_AT = `CASE WHEN ?::bigint IS NULL THEN NULL ELSE now() + ?::bigint * interval '1 millisecond' END`;
const FINISHED = `('${WebhookDeliveryStatus.Delivered}', '${WebhookDeliveryStatus.Failed}', '${WebhookDeliveryStatus.Exhausted}')`;

/**
 * The delivery row is the lock. Every state change is one guarded UPDATE, so
 * that however many jobs BullMQ hands out for a delivery (duplicates, stalled
 * jobs, the sweep), at most one attempt is in flight and each outcome is
 * recorded once, by the worker that made the attempt.
 */
@Injectable()
export class WebhookDeliveryRepository {
  constructor(private readonly em: EntityManager) {}

  /**
   * Takes the next attempt if the delivery is due, or if the worker that was
   * sending it let its lease run out (it died): then that attempt is closed
   * as LEASE_EXPIRED, since whether the receiver got it is unknown.
   */
  async claim(deliveryId: string, leaseMs: number): Promise<ClaimResult> {
    return this.em.fork().transactional(async (tx) => {
      const [row] = await tx.execute<
        {
          event_id: string;
          url: string;
          payload: string;
          attempt_count: number;
          attempts_allowed: number;
          redelivery_requested: boolean;
        }[]
      >(
        `UPDATE webhook_delivery
            SET status = '${SENDING}', attempt_count = attempt_count + 1,
                locked_until = now() + ?::bigint * interval '1 millisecond', next_attempt_at = NULL
          WHERE id = ?
            AND ((status = '${PENDING}' AND next_attempt_at <= now()) OR (status = '${SENDING}' AND locked_until < now()))
        RETURNING event_id, url, payload, attempt_count, attempts_allowed, redelivery_requested`,
        [leaseMs, deliveryId],
      );
      if (!row) return this.whyNotClaimed(tx, deliveryId);
      await tx.execute(
        `UPDATE webhook_attempt
            SET finished_at = now(), error_code = 'LEASE_EXPIRED',
                error_message = 'The worker making this attempt stopped before recording its outcome'
          WHERE delivery_id = ? AND finished_at IS NULL`,
        [deliveryId],
      );
      await tx.execute(
        `INSERT INTO webhook_attempt (id, delivery_id, number, manual, started_at) VALUES (?, ?, ?, ?, now())`,
        [randomUUID(), deliveryId, row.attempt_count, row.redelivery_requested],
      );
      return {
        kind: 'claimed',
        attempt: {
          deliveryId,
          eventId: row.event_id,
          url: row.url,
          payload: row.payload,
          number: row.attempt_count,
          attemptsAllowed: row.attempts_allowed,
        },
      };
    });
  }

  /**
   * Records the attempt and moves the delivery on, only if this worker still
   * holds the row for this attempt; false when its lease was taken over.
   */
  async record(attempt: ClaimedAttempt, sent: SentAttempt, decision: DeliveryDecision): Promise<boolean> {
    const delayMs = decision.status === PENDING ? decision.delayMs : null;
    const delivered = decision.status === WebhookDeliveryStatus.Delivered;
    return this.em.fork().transactional(async (tx) => {
      const updated = await tx.execute<{ id: string }[]>(
        `UPDATE webhook_delivery
            SET status = ?, locked_until = NULL, redelivery_requested = false,
                next_attempt_at = ${NEXT_ATTEMPT_AT},
                last_status_code = ?, last_error = ?,
                delivered_at = CASE WHEN ? THEN now() ELSE delivered_at END
          WHERE id = ? AND status = '${SENDING}' AND attempt_count = ?
        RETURNING id`,
        [
          decision.status,
          delayMs,
          delayMs,
          sent.statusCode,
          sent.errorMessage,
          delivered,
          attempt.deliveryId,
          attempt.number,
        ],
      );
      if (updated.length === 0) return false;
      await tx.execute(
        `UPDATE webhook_attempt
            SET finished_at = now(), duration_ms = ?, status_code = ?, error_code = ?, error_message = ?,
                response_body = ?, next_attempt_at = ${NEXT_ATTEMPT_AT}
          WHERE delivery_id = ? AND number = ?`,
        [
          sent.durationMs,
          sent.statusCode,
          sent.errorCode,
          sent.errorMessage,
          sent.responseBody,
          delayMs,
          delayMs,
          attempt.deliveryId,
          attempt.number,
        ],
      );
      return true;
    });
  }

  /** Deliveries a job should be running for now: due ones, and ones whose sender's lease expired. */
  async findDue(limit: number): Promise<DueDelivery[]> {
    const rows = await this.em.fork().execute<{ id: string; attempt_count: number }[]>(
      `SELECT id, attempt_count FROM webhook_delivery
        WHERE (status = '${PENDING}' AND next_attempt_at <= now())
           OR (status = '${SENDING}' AND locked_until < now())
        ORDER BY next_attempt_at NULLS FIRST
        LIMIT ?`,
      [limit],
    );
    return rows.map((row) => ({ id: row.id, nextAttempt: row.attempt_count + 1 }));
  }

  /**
   * Makes a finished delivery due again for exactly one more attempt, with
   * the same event id and body. Null when the delivery does not belong to
   * the request; the current status when it is not finished.
   */
  async requestRedelivery(
    requestId: string,
    deliveryId: string,
  ): Promise<
    { redelivered: true; nextAttempt: number } | { redelivered: false; status: WebhookDeliveryStatus } | null
  > {
    return this.em.fork().transactional(async (tx) => {
      const [current] = await tx.execute<{ status: WebhookDeliveryStatus }[]>(
        `SELECT status FROM webhook_delivery WHERE id = ? AND request_id = ? FOR UPDATE`,
        [deliveryId, requestId],
      );
      if (!current) return null;
      const [row] = await tx.execute<{ attempt_count: number }[]>(
        `UPDATE webhook_delivery
            SET status = '${PENDING}', next_attempt_at = now(), attempts_allowed = attempt_count + 1,
                redelivery_requested = true
          WHERE id = ? AND status IN ${FINISHED}
        RETURNING attempt_count`,
        [deliveryId],
      );
      if (!row) return { redelivered: false, status: current.status };
      return { redelivered: true, nextAttempt: row.attempt_count + 1 };
    });
  }

  /**
   * The delivery of the request's current round, for its status page: one
   * terminal event per round (the first run, then each retry), so a retried
   * request shows its latest, or none when it did not subscribe to that event.
   */
  async summaryForRequest(
    requestId: string,
    round: number,
  ): Promise<Pick<WebhookDelivery, 'status' | 'attemptCount' | 'nextAttemptAt' | 'deliveredAt'> | null> {
    return this.em
      .fork()
      .findOne(
        WebhookDelivery,
        { request: requestId, requestRound: round },
        { fields: ['status', 'attemptCount', 'nextAttemptAt', 'deliveredAt'], orderBy: { createdAt: 'desc' } },
      );
  }

  async listForRequest(requestId: string): Promise<{ delivery: WebhookDelivery; attempts: WebhookAttempt[] }[]> {
    const em = this.em.fork();
    const deliveries = await em.find(WebhookDelivery, { request: requestId }, { orderBy: { createdAt: 'asc' } });
    if (deliveries.length === 0) return [];
    const attempts = await em.find(
      WebhookAttempt,
      { delivery: { $in: deliveries.map((delivery) => delivery.id) } },
      { orderBy: { number: 'asc' } },
    );
    return deliveries.map((delivery) => ({
      delivery,
      attempts: attempts.filter((attempt) => attempt.delivery.id === delivery.id),
    }));
  }

  /**
   * Writes a request's event, once per round: a second finalize of the same
   * round (which the row lock already prevents) would find the unique key taken.
   */
  async insertEvent(
    tx: EntityManager,
    event: { requestId: string; round: number; type: string; url: string; payload: unknown; attemptsAllowed: number },
  ): Promise<string | null> {
    const [inserted] = await tx.execute<{ id: string }[]>(
      `INSERT INTO webhook_delivery
         (id, request_id, request_round, event_id, event_type, url, payload, status, attempts_allowed, next_attempt_at,
          created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, now(), now())
       ON CONFLICT (request_id, request_round, event_type) DO NOTHING
       RETURNING id`,
      [
        randomUUID(),
        event.requestId,
        event.round,
        `msg_${randomUUID().replaceAll('-', '')}`,
        event.type,
        event.url,
        JSON.stringify(event.payload),
        event.attemptsAllowed,
      ],
    );
    return inserted?.id ?? null;
  }

  private async whyNotClaimed(tx: EntityManager, deliveryId: string): Promise<ClaimResult> {
    const [row] = await tx.execute<{ status: WebhookDeliveryStatus; wait_ms: number | null }[]>(
      `SELECT status, ceil(extract(epoch FROM next_attempt_at - now()) * 1000)::int AS wait_ms
         FROM webhook_delivery WHERE id = ?`,
      [deliveryId],
    );
    if (!row) return { kind: 'skipped', reason: 'gone' };
    if (row.status === PENDING && row.wait_ms !== null && row.wait_ms > 0)
      return { kind: 'not-due', waitMs: row.wait_ms };
    return { kind: 'skipped', reason: row.status };
  }
}
