import { randomUUID } from 'node:crypto';
import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { type Expression, sql } from 'kysely';
import { typedSql } from '../database/typed-sql.js';
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
const FINISHED = [WebhookDeliveryStatus.Delivered, WebhookDeliveryStatus.Failed, WebhookDeliveryStatus.Exhausted];

function sqlOf(em: EntityManager) {
  return typedSql<typeof WebhookDelivery | typeof WebhookAttempt>(em);
}

/** now() plus `ms` milliseconds (now() is the transaction's start); null when `ms` is. */
function nowPlus(ms: number): Expression<string>;
function nowPlus(ms: number | null): Expression<string | null>;
function nowPlus(ms: number | null): Expression<string | null> {
  return ms === null ? sql<null>`null` : sql<string>`now() + ${ms}::bigint * interval '1 millisecond'`;
}

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
      const db = sqlOf(tx);
      const row = await db
        .updateTable('webhook_delivery')
        .set((eb) => ({
          status: SENDING,
          attempt_count: eb('attempt_count', '+', 1),
          locked_until: nowPlus(leaseMs),
          next_attempt_at: null,
        }))
        .where('id', '=', deliveryId)
        .where((eb) =>
          eb.or([
            eb.and([eb('status', '=', PENDING), eb('next_attempt_at', '<=', sql<string>`now()`)]),
            eb.and([eb('status', '=', SENDING), eb('locked_until', '<', sql<string>`now()`)]),
          ]),
        )
        .returning([
          'event_id as eventId',
          'url',
          'payload',
          'attempt_count as number',
          'attempts_allowed as attemptsAllowed',
          'redelivery_requested as manual',
        ])
        .executeTakeFirst();
      if (!row) return this.whyNotClaimed(tx, deliveryId);
      await db
        .updateTable('webhook_attempt')
        .set({
          finished_at: sql<string>`now()`,
          error_code: 'LEASE_EXPIRED',
          error_message: 'The worker making this attempt stopped before recording its outcome',
        })
        .where('delivery_id', '=', deliveryId)
        .where('finished_at', 'is', null)
        .execute();
      await db
        .insertInto('webhook_attempt')
        .values({
          id: randomUUID(),
          delivery_id: deliveryId,
          number: row.number,
          manual: row.manual,
          started_at: sql<string>`now()`,
        })
        .execute();
      const { eventId, url, payload, number, attemptsAllowed } = row;
      return { kind: 'claimed', attempt: { deliveryId, eventId, url, payload, number, attemptsAllowed } };
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
      const db = sqlOf(tx);
      const updated = await db
        .updateTable('webhook_delivery')
        .set((eb) => ({
          status: decision.status,
          locked_until: null,
          redelivery_requested: false,
          next_attempt_at: nowPlus(delayMs),
          last_status_code: sent.statusCode,
          last_error: sent.errorMessage,
          delivered_at: delivered ? sql<string>`now()` : eb.ref('delivered_at'),
        }))
        .where('id', '=', attempt.deliveryId)
        .where('status', '=', SENDING)
        .where('attempt_count', '=', attempt.number)
        .returning('id')
        .executeTakeFirst();
      if (!updated) return false;
      await db
        .updateTable('webhook_attempt')
        .set({
          finished_at: sql<string>`now()`,
          duration_ms: sent.durationMs,
          status_code: sent.statusCode,
          error_code: sent.errorCode,
          error_message: sent.errorMessage,
          response_body: sent.responseBody,
          next_attempt_at: nowPlus(delayMs),
        })
        .where('delivery_id', '=', attempt.deliveryId)
        .where('number', '=', attempt.number)
        .execute();
      return true;
    });
  }

  /** Deliveries a job should be running for now: due ones, and ones whose sender's lease expired. */
  async findDue(limit: number): Promise<DueDelivery[]> {
    return sqlOf(this.em.fork())
      .selectFrom('webhook_delivery')
      .select((eb) => ['id', eb('attempt_count', '+', 1).as('nextAttempt')])
      .where((eb) =>
        eb.or([
          eb.and([eb('status', '=', PENDING), eb('next_attempt_at', '<=', sql<string>`now()`)]),
          eb.and([eb('status', '=', SENDING), eb('locked_until', '<', sql<string>`now()`)]),
        ]),
      )
      .orderBy('next_attempt_at', (ob) => ob.asc().nullsFirst())
      .limit(limit)
      .execute();
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
      const db = sqlOf(tx);
      const current = await db
        .selectFrom('webhook_delivery')
        .select('status')
        .where('id', '=', deliveryId)
        .where('request_id', '=', requestId)
        .forUpdate()
        .executeTakeFirst();
      if (!current) return null;
      const row = await db
        .updateTable('webhook_delivery')
        .set((eb) => ({
          status: PENDING,
          next_attempt_at: sql<string>`now()`,
          attempts_allowed: eb('attempt_count', '+', 1),
          redelivery_requested: true,
        }))
        .where('id', '=', deliveryId)
        .where('status', 'in', FINISHED)
        .returning((eb) => eb('attempt_count', '+', 1).as('nextAttempt'))
        .executeTakeFirst();
      if (!row) return { redelivered: false, status: current.status };
      return { redelivered: true, nextAttempt: row.nextAttempt };
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
    const inserted = await sqlOf(tx)
      .insertInto('webhook_delivery')
      .values({
        id: randomUUID(),
        request_id: event.requestId,
        request_round: event.round,
        event_id: `msg_${randomUUID().replaceAll('-', '')}`,
        event_type: event.type,
        url: event.url,
        payload: JSON.stringify(event.payload),
        status: PENDING,
        attempt_count: 0,
        attempts_allowed: event.attemptsAllowed,
        redelivery_requested: false,
        next_attempt_at: sql<string>`now()`,
        created_at: sql<string>`now()`,
      })
      .onConflict((oc) => oc.columns(['request_id', 'request_round', 'event_type']).doNothing())
      .returning('id')
      .executeTakeFirst();
    return inserted?.id ?? null;
  }

  private async whyNotClaimed(tx: EntityManager, deliveryId: string): Promise<ClaimResult> {
    const row = await sqlOf(tx)
      .selectFrom('webhook_delivery')
      .select((eb) => [
        'status',
        sql<number | null>`ceil(extract(epoch FROM ${eb.ref('next_attempt_at')} - now()) * 1000)::int`.as('waitMs'),
      ])
      .where('id', '=', deliveryId)
      .executeTakeFirst();
    if (!row) return { kind: 'skipped', reason: 'gone' };
    if (row.status === PENDING && row.waitMs !== null && row.waitMs > 0) return { kind: 'not-due', waitMs: row.waitMs };
    return { kind: 'skipped', reason: row.status };
  }
}
