import { EntityName } from '@mikro-orm/core';
import { Entity, Enum, Index, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';
import { ProcessingRequest } from '../requests/processing-request.entity.js';
import { WebhookDeliveryStatus } from './webhook-delivery-status.js';

/**
 * The outbox row of one event for one request's webhook URL. It is written in
 * the transaction that sets the terminal status and is itself the lock that
 * keeps two workers from sending the same event at once (see
 * WebhookDeliveryRepository.claim).
 */
@Entity({ tableName: 'webhook_delivery' })
// One terminal event per round of the request (its first run, then each retry).
@Unique({ properties: ['request', 'requestRound', 'eventType'] })
// The sweep's query: due pending rows and sending rows whose lease ran out.
@Index({ properties: ['status', 'nextAttemptAt'] })
export class WebhookDelivery {
  /** The name typed SQL infers the table from (database/typed-sql.ts): `webhook_delivery`. */
  declare [EntityName]?: 'WebhookDelivery';

  @PrimaryKey({ type: 'uuid' })
  id: string;

  @ManyToOne({ entity: () => ProcessingRequest, deleteRule: 'cascade' })
  request: ProcessingRequest;

  /** The `webhook-id` header: fixed when the event is created, the same on every retry and redelivery. */
  @Property({ type: 'text', unique: true })
  eventId: string;

  @Property({ type: 'text' })
  eventType: string;

  /** The request's retry round the event closed (0 for the first run). */
  @Property({ type: 'integer', default: 0 })
  requestRound = 0;

  @Property({ type: 'text' })
  url: string;

  /** The JSON body as text, so every attempt sends and signs exactly the same bytes. */
  @Property({ type: 'text' })
  payload: string;

  @Enum({ items: () => WebhookDeliveryStatus, nativeEnumName: 'webhook_delivery_status' })
  status: WebhookDeliveryStatus = WebhookDeliveryStatus.Pending;

  @Property({ type: 'integer' })
  attemptCount = 0;

  /** Attempts made so far plus those still allowed; a redelivery raises it by one. */
  @Property({ type: 'integer' })
  attemptsAllowed: number;

  /** Set by a redelivery so that its attempt is logged as manual. */
  @Property({ type: 'boolean' })
  redeliveryRequested = false;

  @Property({ type: 'datetime', nullable: true })
  nextAttemptAt: Date | null = null;

  /** While `sending`: after this instant the worker is presumed dead and the sweep hands the row on. */
  @Property({ type: 'datetime', nullable: true })
  lockedUntil: Date | null = null;

  @Property({ type: 'integer', nullable: true })
  lastStatusCode: number | null = null;

  @Property({ type: 'text', nullable: true })
  lastError: string | null = null;

  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime', nullable: true })
  deliveredAt: Date | null = null;
}
